"""Events registration consumes: the pairs matching proposes."""

from __future__ import annotations

import uuid
from typing import Any

from services.registration import store
from shared import db, topics
from shared.consumer import Handlers, route_batch
from shared.db import Conn
from shared.events import Envelope, Pairing

SUBSCRIBES_TO = (topics.MATCHING,)


def latest_plans(plans: list[Pairing]) -> list[Pairing]:
    """The plan each meeting keeps after ``plans`` are saved one after the other (``store.save_seatings``, one
    at a time): of each meeting, its highest version, and of several with that version the last (a plan
    replaces the kept one unless that has a later version, so a published plan replaces its own proposal, and
    the reverse). One plan per meeting, in the order of the meetings' first plans."""
    kept: dict[uuid.UUID, Pairing] = {}
    for plan in plans:
        held = kept.get(plan.meeting_id)
        if held is None or held.version <= plan.version:
            kept[plan.meeting_id] = plan
    return list(kept.values())


async def pairs_proposed(conn: Conn, events: list[tuple[Envelope, Pairing]]) -> None:
    """matching.pairs_proposed | pairs_published, a run of them at once: keep each meeting's latest plan, for
    the coordinator's seating list, with one statement. A run of one tenant's plans is written under the scope
    the consumer gave it; one of several tenants' under all tenants' scope, each row with its own tenant (and
    a kept row of another tenant left alone), and the scope restored after."""
    plans = latest_plans([plan for _, plan in events])
    rows: list[tuple[uuid.UUID, uuid.UUID, int, dict[str, Any]]] = [
        (p.meeting_id, p.tenant_id, p.version, p.model_dump(mode="json")) for p in plans
    ]
    if len({p.tenant_id for p in plans}) <= 1:
        await store.save_seatings(conn, rows)
        return
    was = await store.scope_to_all_tenants(conn)
    await store.save_seatings(conn, rows)
    await db.set_tenant(conn, was)


HANDLERS = Handlers(route_batch(("matching.pairs_proposed", "matching.pairs_published"), Pairing, pairs_proposed))
