"""HTTP routes for registrations, participants and the pairs."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from services.registration import guard, seating_page
from services.registration.deps import AnyPrincipal, ManageToken, OptionalPrincipal, RuntimeDep
from services.registration.schemas import (
    AttendanceIn,
    CommandAccepted,
    ErasureRequestedOut,
    FeedbackIn,
    LockIn,
    PublishPairsIn,
    RegistrationOut,
    RegistrationView,
    SignUpAccepted,
    SignUpConfirmed,
    SignUpIn,
    SignUpOut,
    SwapIn,
    TokenIn,
)
from services.registration.usecases import pairs, participants, registrations
from shared.auth import Principal, unauthorized
from shared.errors import NotFound

router = APIRouter()
T = TypeVar("T")


def _caller(principal: Principal | None, manage_token: str | None) -> None:
    if principal is None and manage_token is None:
        raise unauthorized("Send a coordinator token as Bearer, or the participant's X-Manage-Token.")


async def _as_participant(
    request: Request, principal: Principal | None, registration_id: uuid.UUID, attempt: Callable[[], Awaitable[T]]
) -> T:
    """A coordinator's call as it is; a manage token's under the limits on wrong tokens."""
    if principal is not None:
        return await attempt()
    return await guard.with_manage_token(request, registration_id, attempt)


@router.post(
    "/meetings/{meeting_id}/registrations",
    status_code=201,
    response_model=SignUpOut,
    responses={202: {"model": SignUpAccepted, "description": "A public sign-up waits for its contact's confirmation."}},
    tags=["public"],
)
async def sign_up(
    meeting_id: uuid.UUID, body: SignUpIn, request: Request, runtime: RuntimeDep, principal: OptionalPrincipal
) -> SignUpOut | JSONResponse:
    """With a coordinator token: the person is signed up at once (201, confirmed or waitlisted).

    Without one (residents; newcomers with the meeting's `invitation_code`): 202, always the same answer.
    A message with a confirmation link goes to the e-mail (or, without one, by SMS to the phone); the place
    is decided when the link is used (`POST /v1/signups/{id}/confirm`)."""
    if principal is not None:
        return SignUpOut.model_validate(
            await registrations.sign_up(runtime.db, principal, meeting_id, body), from_attributes=True
        )
    await guard.public_sign_up(request, meeting_id, body)
    return JSONResponse(SignUpAccepted().model_dump(), status_code=202)


@router.post("/signups/{signup_id}/confirm", response_model=SignUpConfirmed, tags=["public"])
async def confirm_sign_up(
    signup_id: uuid.UUID, body: TokenIn, request: Request, runtime: RuntimeDep
) -> SignUpConfirmed:
    """Use the link from the confirmation message: the place is decided now, first confirmed first served."""
    done = await guard.confirm_sign_up(request, signup_id, body.token)
    if done.outcome == "repeated":
        return SignUpConfirmed(registration_id=done.registration_id, status="already_signed_up")
    return SignUpConfirmed(registration_id=done.registration_id, status=done.outcome, manage_token=done.manage_token)


@router.get("/meetings/{meeting_id}/registrations", response_model=list[RegistrationOut], tags=["coordinator"])
async def list_registrations(
    meeting_id: uuid.UUID, runtime: RuntimeDep, principal: AnyPrincipal
) -> list[RegistrationOut]:
    lines = await registrations.list_registrations(runtime.db, principal, meeting_id)
    return [RegistrationOut.model_validate(line, from_attributes=True) for line in lines]


@router.get("/registrations/{registration_id}", response_model=RegistrationView, tags=["participant"])
async def get_registration(
    registration_id: uuid.UUID,
    request: Request,
    runtime: RuntimeDep,
    principal: OptionalPrincipal,
    manage_token: ManageToken = None,
) -> RegistrationView:
    _caller(principal, manage_token)
    place = await _as_participant(
        request,
        principal,
        registration_id,
        lambda: registrations.get_registration(runtime.db, principal, manage_token, registration_id),
    )
    return RegistrationView(
        id=place.id,
        participant_id=place.participant_id,
        meeting_id=place.meeting_id,
        group=place.group,
        status=place.status,
        meeting_title=place.meeting.title,
        meeting_starts_at=place.meeting.starts_at,
        meeting_ends_at=place.meeting.ends_at,
        venue=place.meeting.venue,
        feedback_given=place.feedback_given,
        waitlist_position=place.waitlist_position,
    )


@router.delete("/registrations/{registration_id}", status_code=204, tags=["participant"])
async def cancel_registration(
    registration_id: uuid.UUID,
    request: Request,
    runtime: RuntimeDep,
    principal: OptionalPrincipal,
    manage_token: ManageToken = None,
) -> Response:
    """Cancel with the participant's manage token or a coordinator token; the first person waiting in the
    same group gets the place."""
    _caller(principal, manage_token)
    await _as_participant(
        request,
        principal,
        registration_id,
        lambda: registrations.cancel_registration(runtime.db, principal, manage_token, registration_id),
    )
    return Response(status_code=204)


@router.post("/registrations/{registration_id}/attendance", response_model=RegistrationOut, tags=["coordinator"])
async def record_attendance(
    registration_id: uuid.UUID, body: AttendanceIn, runtime: RuntimeDep, principal: AnyPrincipal
) -> RegistrationOut:
    """Once the meeting has started: `attended` or `no_show`."""
    line = await registrations.record_attendance(runtime.db, principal, registration_id, body)
    return RegistrationOut.model_validate(line, from_attributes=True)


@router.post("/registrations/{registration_id}/feedback", status_code=201, tags=["participant"])
async def give_feedback(
    registration_id: uuid.UUID,
    body: FeedbackIn,
    request: Request,
    runtime: RuntimeDep,
    principal: OptionalPrincipal,
    manage_token: ManageToken = None,
) -> dict[str, Any]:
    """After the meeting, with the manage token. The comment stays with the municipality."""
    if manage_token is None:
        if principal is not None:  # feedback is the participant's own; no coordinator gives it
            raise NotFound(f"no registration {registration_id} to give feedback on with this token")
        raise unauthorized("Send the participant's X-Manage-Token.")
    token = manage_token
    receipt = await guard.with_manage_token(
        request, registration_id, lambda: registrations.give_feedback(runtime.db, token, registration_id, body)
    )
    return {"registration_id": str(receipt.registration_id), "given_at": receipt.given_at.isoformat()}


@router.delete(
    "/participants/{participant_id}",
    status_code=204,
    responses={202: {"model": ErasureRequestedOut, "description": "With a manage token: a link to confirm was sent."}},
    tags=["participant"],
)
async def erase_participant(
    participant_id: uuid.UUID,
    request: Request,
    runtime: RuntimeDep,
    principal: OptionalPrincipal,
    manage_token: ManageToken = None,
) -> Response:
    """Erase the participant's personal data. A coordinator erases at once (204). With the participant's
    manage token (202), a link to confirm goes to their own contact first. Future places are cancelled;
    the registrations stay as anonymous rows for the counts."""
    if principal is not None:
        await participants.erase_participant(runtime.db, principal, participant_id)
        return Response(status_code=204)
    if manage_token is None:
        raise unauthorized("Send a coordinator token as Bearer, or the participant's X-Manage-Token.")
    await guard.request_erasure(request, manage_token, participant_id)
    return JSONResponse(ErasureRequestedOut().model_dump(), status_code=202)


@router.post("/erasures/{request_id}/confirm", status_code=204, tags=["participant"])
async def confirm_erasure(request_id: uuid.UUID, body: TokenIn, request: Request, runtime: RuntimeDep) -> Response:
    """Use the link from the erasure message: the participant's personal data is erased now."""
    await guard.confirm_erasure(request, request_id, body.token)
    return Response(status_code=204)


@router.post("/meetings/{meeting_id}/pairs/swap", status_code=202, response_model=CommandAccepted, tags=["coordinator"])
async def swap_pair_members(
    meeting_id: uuid.UUID, body: SwapIn, runtime: RuntimeDep, principal: AnyPrincipal
) -> CommandAccepted:
    """Two newcomers (or two residents) change places; both changed pairs are then locked."""
    return CommandAccepted.model_validate(
        await pairs.swap(runtime.db, principal, meeting_id, body), from_attributes=True
    )


@router.post("/meetings/{meeting_id}/pairs/lock", status_code=202, response_model=CommandAccepted, tags=["coordinator"])
async def lock_pair(
    meeting_id: uuid.UUID, body: LockIn, runtime: RuntimeDep, principal: AnyPrincipal
) -> CommandAccepted:
    """Lock (or, with `locked: false`, unlock) a pair: a locked pair stays in every later re-match."""
    return CommandAccepted.model_validate(
        await pairs.lock(runtime.db, principal, meeting_id, body), from_attributes=True
    )


@router.post(
    "/meetings/{meeting_id}/pairs/publish", status_code=202, response_model=CommandAccepted, tags=["coordinator"]
)
async def publish_pairs(
    meeting_id: uuid.UUID, body: PublishPairsIn, runtime: RuntimeDep, principal: AnyPrincipal
) -> CommandAccepted:
    """Announce the reviewed version of the plan to the participants."""
    return CommandAccepted.model_validate(
        await pairs.publish_pairs(runtime.db, principal, meeting_id, body), from_attributes=True
    )


@router.get("/meetings/{meeting_id}/seating", tags=["coordinator"], response_model=None)
async def get_seating(
    meeting_id: uuid.UUID, request: Request, runtime: RuntimeDep, principal: AnyPrincipal, format: str = "json"
) -> dict[str, Any] | HTMLResponse:
    """The long-table seating plan with names; `?format=html` gives the console's printable long table (in
    the language of the request's cookie or Accept-Language, else bokmål)."""
    seating = await pairs.seating(runtime.db, principal, meeting_id)
    if format == "html":
        return seating_page.render(request, seating)
    return seating.plan
