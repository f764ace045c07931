"""Events registration consumes: the pairs matching proposes."""

from __future__ import annotations

from services.registration import store
from shared import topics
from shared.consumer import Handlers, route
from shared.db import Conn
from shared.events import Envelope, Pairing

SUBSCRIBES_TO = (topics.MATCHING,)


async def pairs_proposed(conn: Conn, event: Envelope, proposal: Pairing) -> None:
    """matching.pairs_proposed | pairs_published: keep the plan, for the coordinator's seating list."""
    await store.save_seating(
        conn, proposal.meeting_id, proposal.tenant_id, proposal.version, proposal.model_dump(mode="json")
    )


HANDLERS = Handlers(route(("matching.pairs_proposed", "matching.pairs_published"), Pairing, pairs_proposed))
