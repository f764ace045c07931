"""HTTP routes for registrations, participants and the pairs."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse

from services.registration import seating_page
from services.registration.deps import AnyPrincipal, ManageToken, OptionalPrincipal, RuntimeDep
from services.registration.schemas import (
    AttendanceIn,
    CommandAccepted,
    FeedbackIn,
    LockIn,
    PublishPairsIn,
    RegistrationOut,
    RegistrationView,
    SignUpIn,
    SignUpOut,
    SwapIn,
)
from services.registration.usecases import pairs, participants, registrations
from shared.auth import Principal, unauthorized
from shared.errors import NotFound

router = APIRouter()


def _caller(principal: Principal | None, manage_token: str | None) -> None:
    if principal is None and manage_token is None:
        raise unauthorized("Send a coordinator token as Bearer, or the participant's X-Manage-Token.")


@router.post("/meetings/{meeting_id}/registrations", status_code=201, response_model=SignUpOut, tags=["public"])
async def sign_up(
    meeting_id: uuid.UUID, body: SignUpIn, runtime: RuntimeDep, principal: OptionalPrincipal
) -> SignUpOut:
    """Residents sign up publicly (no token). Newcomers are signed up by their coordinator, or sign up
    themselves with the meeting's `invitation_code`. A full group puts the sign-up on its waiting list."""
    reg, token = await registrations.sign_up(runtime.db, principal, meeting_id, body)
    return SignUpOut(
        registration_id=reg["id"], participant_id=reg["participant_id"], status=reg["status"], manage_token=token
    )


@router.get("/meetings/{meeting_id}/registrations", response_model=list[RegistrationOut], tags=["coordinator"])
async def list_registrations(
    meeting_id: uuid.UUID, runtime: RuntimeDep, principal: AnyPrincipal
) -> list[RegistrationOut]:
    rows = await registrations.list_registrations(runtime.db, principal, meeting_id)
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


@router.get("/registrations/{registration_id}", response_model=RegistrationView, tags=["participant"])
async def get_registration(
    registration_id: uuid.UUID, runtime: RuntimeDep, principal: OptionalPrincipal, manage_token: ManageToken = None
) -> RegistrationView:
    _caller(principal, manage_token)
    reg, meeting, feedback = await registrations.get_registration(runtime.db, principal, manage_token, registration_id)
    return RegistrationView(
        id=reg["id"],
        participant_id=reg["participant_id"],
        meeting_id=reg["meeting_id"],
        group=reg["group"],
        status=reg["status"],
        meeting_title=meeting["title"],
        meeting_starts_at=meeting["starts_at"],
        meeting_ends_at=meeting["ends_at"],
        venue=meeting["venue"],
        feedback_given=feedback is not None,
    )


@router.delete("/registrations/{registration_id}", status_code=204, tags=["participant"])
async def cancel_registration(
    registration_id: uuid.UUID, runtime: RuntimeDep, principal: OptionalPrincipal, manage_token: ManageToken = None
) -> Response:
    """Cancel with the participant's manage token or a coordinator token; the first person waiting in the
    same group gets the place."""
    _caller(principal, manage_token)
    await registrations.cancel_registration(runtime.db, principal, manage_token, registration_id)
    return Response(status_code=204)


@router.post("/registrations/{registration_id}/attendance", response_model=RegistrationOut, tags=["coordinator"])
async def record_attendance(
    registration_id: uuid.UUID, body: AttendanceIn, runtime: RuntimeDep, principal: AnyPrincipal
) -> RegistrationOut:
    """Once the meeting has started: `attended` or `no_show`."""
    r = await registrations.record_attendance(runtime.db, principal, registration_id, body)
    return RegistrationOut(
        id=r["id"],
        participant_id=r["participant_id"],
        group=r["group"],
        status=r["status"],
        name=r["name"],
        signed_up_at=r["signed_up_at"],
    )


@router.post("/registrations/{registration_id}/feedback", status_code=201, tags=["participant"])
async def give_feedback(
    registration_id: uuid.UUID,
    body: FeedbackIn,
    runtime: RuntimeDep,
    principal: OptionalPrincipal,
    manage_token: ManageToken = None,
) -> dict[str, Any]:
    """After the meeting, with the manage token. The comment stays with the municipality."""
    if manage_token is None:
        if principal is not None:  # feedback is the participant's own; no coordinator gives it
            raise NotFound(f"no registration {registration_id} to give feedback on with this token")
        raise unauthorized("Send the participant's X-Manage-Token.")
    row = await registrations.give_feedback(runtime.db, manage_token, registration_id, body)
    return {"registration_id": str(row["registration_id"]), "given_at": row["given_at"].isoformat()}


@router.delete("/participants/{participant_id}", status_code=204, tags=["participant"])
async def erase_participant(
    participant_id: uuid.UUID, runtime: RuntimeDep, principal: OptionalPrincipal, manage_token: ManageToken = None
) -> Response:
    """Erase the participant's personal data (their manage token for any of their registrations, or a
    coordinator). Future places are cancelled; the registrations stay as anonymous rows for the counts."""
    _caller(principal, manage_token)
    await participants.erase_participant(runtime.db, principal, manage_token, participant_id)
    return Response(status_code=204)


@router.post("/meetings/{meeting_id}/pairs/swap", status_code=202, response_model=CommandAccepted, tags=["coordinator"])
async def swap_pair_members(
    meeting_id: uuid.UUID, body: SwapIn, runtime: RuntimeDep, principal: AnyPrincipal
) -> CommandAccepted:
    """Two newcomers (or two residents) change places; both changed pairs are then locked."""
    command_id, version = await pairs.swap(runtime.db, principal, meeting_id, body)
    return CommandAccepted(command_id=command_id, based_on_version=version)


@router.post("/meetings/{meeting_id}/pairs/lock", status_code=202, response_model=CommandAccepted, tags=["coordinator"])
async def lock_pair(
    meeting_id: uuid.UUID, body: LockIn, runtime: RuntimeDep, principal: AnyPrincipal
) -> CommandAccepted:
    """Lock (or, with `locked: false`, unlock) a pair: a locked pair stays in every later re-match."""
    command_id, version = await pairs.lock(runtime.db, principal, meeting_id, body)
    return CommandAccepted(command_id=command_id, based_on_version=version)


@router.post(
    "/meetings/{meeting_id}/pairs/publish", status_code=202, response_model=CommandAccepted, tags=["coordinator"]
)
async def publish_pairs(
    meeting_id: uuid.UUID, body: PublishPairsIn, runtime: RuntimeDep, principal: AnyPrincipal
) -> CommandAccepted:
    """Announce the reviewed version of the plan to the participants."""
    command_id, version = await pairs.publish_pairs(runtime.db, principal, meeting_id, body)
    return CommandAccepted(command_id=command_id, based_on_version=version)


@router.get("/meetings/{meeting_id}/seating", tags=["coordinator"], response_model=None)
async def get_seating(
    meeting_id: uuid.UUID, runtime: RuntimeDep, principal: AnyPrincipal, format: str = "json"
) -> dict[str, Any] | HTMLResponse:
    """The long-table seating plan with names; `?format=html` gives a printable page."""
    meeting, row, names = await pairs.seating(runtime.db, principal, meeting_id)
    if row is None:
        raise NotFound("no seating yet: matching proposes the pairs when registration closes")
    plan = seating_page.plan(meeting, row, names)
    if format == "html":
        return HTMLResponse(seating_page.render(meeting, plan))
    return plan
