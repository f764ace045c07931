"""What the participant pages read: a tenant's public page, one meeting's page (with an invitation code for
newcomers), and a participant's own place with the tenant and the published partner."""

from __future__ import annotations

import uuid

import asyncpg

from services.registration import domain, store
from services.registration.usecases.common import NOBODY, clock_of, now, registration_for, scoped
from services.registration.usecases.registrations import get_registration
from services.registration.views import (
    MeetingPage,
    MeetingView,
    OwnPlace,
    Partner,
    PublicMeeting,
    TenantPage,
    TenantView,
)
from shared.db import transaction
from shared.errors import Forbidden, NotFound


def _public(row: asyncpg.Record, counts: dict[str, int]) -> PublicMeeting:
    meeting = MeetingView.of(row, counts, coordinator=False)
    problem = domain.sign_up_problem(row["tenant_status"], row["status"], clock_of(row), now())
    return PublicMeeting.of(meeting, problem is None)


async def tenant_page(pool: asyncpg.Pool, slug: str) -> TenantPage:
    """The tenant with ``slug`` and its upcoming published meetings (domain.listed_publicly) with their
    places. Raises NotFound when there is no such tenant or it is suspended."""
    async with transaction(pool, store.scope_to_tenant_of_slug(slug)) as conn:
        tenant = await store.tenant_by_slug(conn, slug)
        if tenant is None or tenant["status"] != "active":
            raise NotFound(f"no tenant '{slug}'")
        at = now()
        rows = [
            r
            for r in await store.upcoming_published_meetings(conn, tenant["id"], at)
            if domain.listed_publicly(r["tenant_status"], r["status"], clock_of(r), at)
        ]
        counts = await store.counts_by_group(conn, [r["id"] for r in rows])
        return TenantPage(TenantView.of(tenant), tuple(_public(r, counts[r["id"]]) for r in rows))


async def meeting_page(pool: asyncpg.Pool, slug: str, meeting_id: uuid.UUID, code: str | None = None) -> MeetingPage:
    """The meeting ``meeting_id`` of the tenant ``slug`` as its public page shows it. With ``code`` (the
    invitation code from a newcomer's link) the code is checked too.

    Raises NotFound (no such tenant, a suspended one, a meeting of another tenant, or one not published
    yet), Forbidden (a code that is not the meeting's, with domain.invitation_problem's text)."""
    async with scoped(pool, NOBODY, public_meeting=meeting_id) as conn:
        row = await store.meeting(conn, meeting_id)
        if (
            row is None
            or row["tenant_slug"] != slug
            or row["tenant_status"] != "active"
            or not domain.publicly_visible(row["status"])
        ):
            raise NotFound(f"no meeting {meeting_id} of '{slug}'")
        checked = None
        if code is not None:
            checked = domain.normalise_invitation_code(code)
            refused = domain.invitation_problem(checked or "-", row["invitation_code"])
            if refused:
                raise Forbidden(refused)
        tenant = await store.tenant_by_id(conn, row["tenant_id"])
        assert tenant is not None
        counts = await store.counts_by_group(conn, [meeting_id])
        return MeetingPage(TenantView.of(tenant), _public(row, counts[meeting_id]), checked)


async def own_place(pool: asyncpg.Pool, manage_token: str, registration_id: uuid.UUID) -> OwnPlace:
    """The participant's place (``get_registration``) with its tenant, and, once the pairs are published,
    the partner's first name and the seats (domain.seat_of, domain.first_name), and the participant's own
    e-mail and phone. Raises NotFound (unknown,
    or not the token's)."""
    place = await get_registration(pool, None, manage_token, registration_id)
    async with scoped(pool, NOBODY) as conn:
        reg = await registration_for(conn, None, manage_token, registration_id)
        tenant = await store.tenant_by_id(conn, reg["tenant_id"])
        assert tenant is not None
        partner = None
        seating = await store.seating(conn, reg["meeting_id"])
        seat = domain.seat_of(seating["proposal"], registration_id) if seating is not None else None
        if seat is not None and domain.is_live(reg["status"]):
            names = await store.names_of(conn, list(seat.partner_ids))
            first = tuple(n for n in (domain.first_name(names.get(p)) for p in seat.partner_ids) if n)
            partner = Partner(seat.pair_number, seat.seat, first)
        contact = await store.contact_of(conn, reg["participant_id"])
        email, phone = (contact["email"], contact["phone"]) if contact is not None else (None, None)
        return OwnPlace(place, TenantView.of(tenant), partner, email, phone)
