"""HTTP routes of the registration service: decode, authorise, delegate to the use cases."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import HTMLResponse

from services.registration import commands, seating_page, store
from services.registration.schemas import (
    CommandAccepted,
    GroupCounts,
    LockIn,
    MeetingIn,
    MeetingOut,
    PublishPairsIn,
    RegistrationOut,
    SignUpIn,
    SignUpOut,
    SwapIn,
    TenantIn,
    TenantOut,
    TokenOut,
)
from shared import vocabulary
from shared.auth import Principal, bearer, resolve, unauthorized
from shared.errors import NotFound
from shared.events import Capacity, Venue
from shared.service import Runtime, runtime_of

router = APIRouter(prefix="/v1")
RuntimeDep = Annotated[Runtime, Depends(runtime_of)]


async def optional_principal(request: Request) -> Principal | None:
    runtime = runtime_of(request)
    async with runtime.db.acquire() as conn:
        return await resolve(conn, bearer(request), runtime.settings.operator_token)


OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]


async def any_principal(principal: OptionalPrincipal) -> Principal:
    if principal is None:
        raise unauthorized()
    return principal


async def operator(principal: Annotated[Principal, Depends(any_principal)]) -> Principal:
    if principal.role != "operator":
        raise NotFound("no such resource")
    return principal


AnyPrincipal = Annotated[Principal, Depends(any_principal)]
Operator = Annotated[Principal, Depends(operator)]


def tenant_out(row: Any) -> TenantOut:
    return TenantOut(
        id=row["id"],
        slug=row["slug"],
        name=row["name"],
        municipality_number=row["municipality_number"],
        timezone=row["timezone"],
        status=row["status"],
    )


def meeting_out(row: Any, counts: dict[str, int]) -> MeetingOut:
    return MeetingOut(
        id=row["id"],
        tenant_id=row["tenant_id"],
        title=row["title"],
        format=row["format"],
        status=row["status"],
        starts_at=row["starts_at"],
        duration_minutes=row["duration_minutes"],
        registration_closes_at=row["registration_closes_at"],
        venue=Venue(**store.venue_of(row)),
        capacity=Capacity(newcomer=row["capacity_newcomer"], resident=row["capacity_resident"]),
        confirmed=GroupCounts(
            newcomer=counts.get("confirmed:newcomer", 0), resident=counts.get("confirmed:resident", 0)
        ),
        waitlisted=GroupCounts(
            newcomer=counts.get("waitlisted:newcomer", 0), resident=counts.get("waitlisted:resident", 0)
        ),
    )


@router.get("/vocabulary", tags=["public"])
async def get_vocabulary() -> dict[str, Any]:
    """The controlled lists (interests, occupation fields, languages, age bands ...) with nb/nn/en labels."""
    return {k: v for k, v in vocabulary.vocabulary().items() if k != "about"}


@router.post("/tenants", status_code=201, response_model=TenantOut, tags=["operator"])
async def create_tenant(body: TenantIn, runtime: RuntimeDep, _: Operator) -> TenantOut:
    return tenant_out(await commands.create_tenant(runtime.db, body))


@router.get("/tenants", response_model=list[TenantOut], tags=["operator"])
async def list_tenants(runtime: RuntimeDep, _: Operator) -> list[TenantOut]:
    async with runtime.db.acquire() as conn:
        return [tenant_out(r) for r in await store.tenants(conn)]


@router.post("/tenants/{slug}/tokens", status_code=201, response_model=TokenOut, tags=["operator"])
async def issue_token(slug: str, runtime: RuntimeDep, _: Operator) -> TokenOut:
    token_id, token = await commands.issue_token(runtime.db, slug)
    return TokenOut(token_id=token_id, token=token)


@router.post("/tenants/{slug}/meetings", status_code=201, response_model=MeetingOut, tags=["coordinator"])
async def create_meeting(slug: str, body: MeetingIn, runtime: RuntimeDep, principal: AnyPrincipal) -> MeetingOut:
    row = await commands.create_meeting(runtime.db, principal, slug, body)
    return meeting_out(row, {})


@router.get("/tenants/{slug}/meetings", response_model=list[MeetingOut], tags=["coordinator"])
async def list_meetings(slug: str, runtime: RuntimeDep, principal: AnyPrincipal) -> list[MeetingOut]:
    async with runtime.db.acquire() as conn:
        tenant = await commands.visible_tenant(conn, principal, slug)
        rows = await store.meetings_of_tenant(conn, tenant["id"])
        counts = await store.counts_by_group(conn, [r["id"] for r in rows])
    return [meeting_out(r, counts[r["id"]]) for r in rows]


@router.get("/meetings/{meeting_id}", response_model=MeetingOut, tags=["public"])
async def get_meeting(meeting_id: uuid.UUID, runtime: RuntimeDep, principal: OptionalPrincipal) -> MeetingOut:
    """Coordinators see their meetings in every state; anyone sees a meeting once it is published."""
    async with runtime.db.acquire() as conn:
        row = await store.meeting(conn, meeting_id)
        visible = row is not None and (
            row["status"] != "draft" if principal is None or not principal.can_see(row["tenant_id"]) else True
        )
        if row is None or not visible:
            raise NotFound(f"no meeting {meeting_id}")
        counts = await store.counts_by_group(conn, [meeting_id])
    return meeting_out(row, counts[meeting_id])


def _lifecycle(action: str) -> Any:
    async def change(meeting_id: uuid.UUID, runtime: RuntimeDep, principal: AnyPrincipal) -> MeetingOut:
        row = await commands.transition(runtime.db, principal, meeting_id, action)
        async with runtime.db.acquire() as conn:
            counts = await store.counts_by_group(conn, [meeting_id])
        return meeting_out(row, counts[meeting_id])

    change.__name__ = f"{action}_meeting"
    change.__doc__ = f"Lifecycle: {action} the meeting."
    return change


for _action in ("publish", "close", "cancel", "complete"):
    router.add_api_route(
        f"/meetings/{{meeting_id}}/{_action}",
        _lifecycle(_action),
        methods=["POST"],
        response_model=MeetingOut,
        tags=["coordinator"],
    )


@router.post("/meetings/{meeting_id}/registrations", status_code=201, response_model=SignUpOut, tags=["public"])
async def sign_up(
    meeting_id: uuid.UUID, body: SignUpIn, runtime: RuntimeDep, principal: OptionalPrincipal
) -> SignUpOut:
    """Residents sign up publicly; newcomers are signed up by their coordinator."""
    reg, token = await commands.sign_up(runtime.db, principal, meeting_id, body)
    return SignUpOut(
        registration_id=reg["id"],
        participant_id=reg["participant_id"],
        status=reg["status"],
        manage_token=token,
    )


@router.get("/meetings/{meeting_id}/registrations", response_model=list[RegistrationOut], tags=["coordinator"])
async def list_registrations(
    meeting_id: uuid.UUID, runtime: RuntimeDep, principal: AnyPrincipal
) -> list[RegistrationOut]:
    async with runtime.db.acquire() as conn:
        await commands.visible_meeting(conn, principal, meeting_id)
        rows = await store.registrations_of_meeting(conn, meeting_id)
    return [
        RegistrationOut(
            id=r["id"],
            participant_id=r["participant_id"],
            group=r["group"],
            status=r["status"],
            name=r["name"],
            signed_up_at=r["signed_up_at"],
        )
        for r in rows
    ]


@router.delete("/registrations/{registration_id}", status_code=204, tags=["participant"])
async def cancel_registration(
    registration_id: uuid.UUID,
    request: Request,
    runtime: RuntimeDep,
    principal: OptionalPrincipal,
    x_manage_token: Annotated[str | None, Header(description="The participant's manage token.")] = None,
) -> Response:
    """Cancel with the participant's manage token (as Bearer or X-Manage-Token) or a coordinator token."""
    manage_token = x_manage_token or (bearer(request) if principal is None else None)
    if principal is None and manage_token is None:
        raise unauthorized()
    await commands.cancel_registration(runtime.db, principal, manage_token, registration_id)
    return Response(status_code=204)


@router.post("/meetings/{meeting_id}/pairs/swap", status_code=202, response_model=CommandAccepted, tags=["coordinator"])
async def swap_pair_members(
    meeting_id: uuid.UUID, body: SwapIn, runtime: RuntimeDep, principal: AnyPrincipal
) -> CommandAccepted:
    """Two newcomers (or two residents) change places; both changed pairs are then locked."""
    command_id, version = await commands.swap(runtime.db, principal, meeting_id, body)
    return CommandAccepted(command_id=command_id, based_on_version=version)


@router.post("/meetings/{meeting_id}/pairs/lock", status_code=202, response_model=CommandAccepted, tags=["coordinator"])
async def lock_pair(
    meeting_id: uuid.UUID, body: LockIn, runtime: RuntimeDep, principal: AnyPrincipal
) -> CommandAccepted:
    """Lock (or, with ``locked: false``, unlock) a pair: a locked pair stays in every later re-match."""
    command_id, version = await commands.lock(runtime.db, principal, meeting_id, body)
    return CommandAccepted(command_id=command_id, based_on_version=version)


@router.post(
    "/meetings/{meeting_id}/pairs/publish", status_code=202, response_model=CommandAccepted, tags=["coordinator"]
)
async def publish_pairs(
    meeting_id: uuid.UUID, body: PublishPairsIn, runtime: RuntimeDep, principal: AnyPrincipal
) -> CommandAccepted:
    """Announce the reviewed version of the plan to the participants."""
    command_id, version = await commands.publish_pairs(runtime.db, principal, meeting_id, body)
    return CommandAccepted(command_id=command_id, based_on_version=version)


@router.get("/meetings/{meeting_id}/seating", tags=["coordinator"], response_model=None)
async def get_seating(
    meeting_id: uuid.UUID, runtime: RuntimeDep, principal: AnyPrincipal, format: str = "json"
) -> dict[str, Any] | HTMLResponse:
    """The long-table seating plan with names; ``?format=html`` gives a printable page."""
    async with runtime.db.acquire() as conn:
        meeting = await commands.visible_meeting(conn, principal, meeting_id)
        plan = await seating_page.plan(conn, meeting)
    if format == "html":
        return HTMLResponse(seating_page.render(meeting, plan))
    return plan
