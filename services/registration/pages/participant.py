"""A participant's own pages: the confirmation link (a button, then the result with the calendar file and
the manage link), the manage page (status in words, partner and seat, cancel, feedback, contact details,
erasure behind an "are you sure?" step), the .ics file, and the erasure link.

A GET only shows a button (mail scanners open links); the POST acts. Every form carries the CSRF token."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from services.registration import guard
from services.registration.pages.web import PageRoute, form_of, language_of, render
from services.registration.schemas import FeedbackIn, SignUpIn
from services.registration.usecases import public, registrations
from services.registration.views import OwnPlace
from shared import calendar, localtime
from shared.errors import Conflict, NotFound, TooManyRequests
from shared.service import runtime_of

T = TypeVar("T")
router = APIRouter(tags=["participant pages"], include_in_schema=False, route_class=PageRoute)
Token = Annotated[str, Query(max_length=128)]

# What a refused link (409) is, by the start of the use case's sentence: the page says which refusal it
# is and what to do (a link that is used, expired, or whose sign-up has closed).
_CONFLICTS = (
    ("this sign-up is confirmed already", "confirmed_already"),
    ("this confirmation link has expired", "signup_expired"),
    ("your data has been erased already", "erased_already"),
    ("this link has expired", "erasure_expired"),
    ("registration closed at", "closed"),
    ("sign-up is", "closed"),
    ("the meeting is", "closed"),
)


# Why the manage page could not do what was asked (409), by the start of the use case's sentence.
_REFUSALS = (
    ("feedback opens", "feedback_not_yet"),
    ("feedback for this registration has been given already", "feedback_given"),
    ("the meeting started at", "started"),
    ("the meeting was cancelled", "meeting_cancelled"),
)


def refusal(detail: str) -> str:
    """Which refusal of a manage-page action the use case's ``detail`` is (the key of its text on
    ``manage.html``): ``feedback_not_yet``, ``feedback_given``, ``started``, ``meeting_cancelled`` or
    ``not_now``."""
    return next((key for start, key in _REFUSALS if detail.startswith(start)), "not_now")


def link_problem(status: int, detail: str) -> str:
    """Which problem a link that cannot be used has (the key of its text on ``link_problem.html``):
    ``not_found``, ``too_many``, or, for a 409, the refusal named by the use case's ``detail``."""
    if status == 409:
        return next((key for start, key in _CONFLICTS if detail.startswith(start)), "conflict")
    return "too_many" if status == 429 else "not_found"


def _link_problem(request: Request, exc: Exception) -> HTMLResponse:
    status = getattr(exc, "status", 404)
    headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, TooManyRequests) else None
    return render(request, "link_problem.html", status, headers, problem=link_problem(status, str(exc)))


async def _own(request: Request, registration_id: uuid.UUID, token: str) -> OwnPlace:
    db = runtime_of(request).db
    return await guard.with_manage_token(request, registration_id, lambda: public.own_place(db, token, registration_id))


async def _as_participant(request: Request, registration_id: uuid.UUID, attempt: Callable[[], Awaitable[T]]) -> T:
    return await guard.with_manage_token(request, registration_id, attempt)


def _back(registration_id: uuid.UUID, token: str, done: str) -> Response:
    """Back to the manage page, which says what was done (``done``: a key the page knows)."""
    return RedirectResponse(f"/manage/{registration_id}?{urlencode({'token': token, 'done': done})}", status_code=303)


def _manage(request: Request, own: OwnPlace, token: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return render(
        request,
        "manage.html",
        status_code,
        tenant=own.tenant,
        own=own,
        place=own.place,
        meeting=own.place.meeting,
        token=token,
        **context,
    )


async def _refused(request: Request, registration_id: uuid.UUID, token: str, exc: Conflict) -> Response:
    """The manage page again (409), saying why the action was refused; nothing was changed."""
    return await _manage_again(request, registration_id, token, 409, refused=refusal(str(exc)))


async def _manage_again(
    request: Request, registration_id: uuid.UUID, token: str, status_code: int, **context: Any
) -> HTMLResponse:
    """The manage page again with ``status_code`` and ``context`` (errors, a refusal); the link's problem
    page when the link is wrong or has been tried too often."""
    try:
        own = await _own(request, registration_id, token)
    except (NotFound, TooManyRequests) as exc:
        return _link_problem(request, exc)
    return _manage(request, own, token, status_code, **context)


async def _act(
    request: Request, registration_id: uuid.UUID, token: str, attempt: Callable[[], Awaitable[Any]], done: str
) -> Response:
    """A manage-page action under the manage-token limits: back to the page saying ``done`` (303); the page
    again saying why (409) when the use case refuses it; the link's problem page when the link is wrong or
    has been tried too often."""
    try:
        await _as_participant(request, registration_id, attempt)
    except Conflict as exc:
        return await _refused(request, registration_id, token, exc)
    except (NotFound, TooManyRequests) as exc:
        return _link_problem(request, exc)
    return _back(registration_id, token, done)


# --- the confirmation link -------------------------------------------------------------------------------


@router.get("/confirm/{signup_id}", response_class=HTMLResponse)
async def confirm_page(signup_id: uuid.UUID, request: Request, token: Token) -> HTMLResponse:
    """The confirmation link: the meeting and one button."""
    try:
        meeting = await guard.signup_for_link(request, signup_id, token)
    except (NotFound, Conflict, TooManyRequests) as exc:
        return _link_problem(request, exc)
    return render(request, "confirm.html", meeting=meeting, signup_id=signup_id, token=token)


@router.post("/confirm/{signup_id}", response_model=None)
async def confirm(signup_id: uuid.UUID, request: Request) -> Response:
    """The button pressed: the place is decided now; on (303) to the result page, which says which, with
    the calendar file (with a place) and the manage link."""
    token = (await form_of(request)).get("token", "")
    try:
        done = await guard.confirm_sign_up(request, signup_id, token)
    except (NotFound, Conflict, TooManyRequests) as exc:
        return _link_problem(request, exc)
    if done.manage_token is None:
        return render(request, "link_problem.html", problem="repeated")
    # The result is a page of its own (GET), so that reloading it does not post again.
    query = urlencode({"token": done.manage_token, "confirmed": "1"})
    return RedirectResponse(f"/manage/{done.registration_id}?{query}", status_code=303)


# --- the manage page -------------------------------------------------------------------------------------


@router.get("/manage/{registration_id}", response_class=HTMLResponse)
async def manage_page(
    registration_id: uuid.UUID,
    request: Request,
    token: Token,
    done: Annotated[str, Query(max_length=20)] = "",
    confirmed: Annotated[str, Query(max_length=1)] = "",
) -> HTMLResponse:
    """The participant's place: when, where, status in words, partner, and what they may do now; with
    ``confirmed=1``, the result of the confirmation link (a place or the waiting list)."""
    try:
        own = await _own(request, registration_id, token)
    except (NotFound, TooManyRequests) as exc:
        return _link_problem(request, exc)
    if confirmed == "1":
        place = own.place
        return render(
            request, "confirmed.html", tenant=own.tenant, own=own, place=place, meeting=place.meeting, token=token
        )
    return _manage(request, own, token, done=done)


@router.get("/manage/{registration_id}/calendar.ics", response_model=None)
async def calendar_file(registration_id: uuid.UUID, request: Request, token: Token) -> Response:
    """The meeting as an .ics file, on the tenant's clock; only with a place (a page, 409, on the waiting
    list or after a cancellation: the person should not put a meeting in their calendar without a place)."""
    try:
        own = await _own(request, registration_id, token)
    except (NotFound, TooManyRequests) as exc:
        return _link_problem(request, exc)
    if own.place.status.value != "confirmed":
        return render(request, "link_problem.html", 409, tenant=own.tenant, problem="no_calendar")
    meeting = own.place.meeting
    language = language_of(request)
    body = calendar.meeting_ics(
        uid=f"{registration_id}@folkmoterfolk",
        title=meeting.title,
        starts_at=meeting.starts_at,
        duration_minutes=meeting.duration_minutes,
        timezone=meeting.timezone,
        location=f"{meeting.venue.name}, {meeting.venue.address}",
        # No manage link in the file: calendars are synced and shared, and the link is the person's key.
        description=localtime.meeting_when(meeting.starts_at, meeting.duration_minutes, meeting.timezone, language),
    )
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="folk-moter-folk.ics"', "Cache-Control": "no-store"},
    )


@router.get("/manage/{registration_id}/cancel", response_class=HTMLResponse)
async def cancel_ask(registration_id: uuid.UUID, request: Request, token: Token) -> HTMLResponse:
    """ "Are you sure?" before a cancellation, which gives the place away at once (a page, 409, when the
    place cannot be cancelled now)."""
    try:
        own = await _own(request, registration_id, token)
    except (NotFound, TooManyRequests) as exc:
        return _link_problem(request, exc)
    if "cancel" not in own.place.offers:
        return _manage(request, own, token, 409, refused="not_now")
    return render(request, "cancel_ask.html", tenant=own.tenant, own=own, place=own.place, token=token)


@router.post("/manage/{registration_id}/cancel", response_model=None)
async def cancel(registration_id: uuid.UUID, request: Request) -> Response:
    """Cancel the place; the first person waiting gets it."""
    token = (await form_of(request)).get("token", "")
    db = runtime_of(request).db
    return await _act(
        request,
        registration_id,
        token,
        lambda: registrations.cancel_registration(db, None, token, registration_id),
        "cancelled",
    )


@router.post("/manage/{registration_id}/feedback", response_model=None)
async def feedback(registration_id: uuid.UUID, request: Request) -> Response:
    """Feedback after the meeting; a missing rating shows the page again with the error beside it."""
    form = await form_of(request)
    token = form.get("token", "")
    db = runtime_of(request).db
    try:
        answers = FeedbackIn(
            rating=int(form.get("rating", "0") or 0),
            new_connection=form.get("new_connection") == "yes",
            would_recommend=form.get("would_recommend") == "yes",
            comment=form.get("comment") or None,
        )
    except (ValidationError, ValueError):
        return await _manage_again(request, registration_id, token, 400, errors={"rating": "rating"}, values=form)
    return await _act(
        request,
        registration_id,
        token,
        lambda: registrations.give_feedback(db, token, registration_id, answers),
        "feedback",
    )


@router.post("/manage/{registration_id}/contact", response_model=None)
async def contact(registration_id: uuid.UUID, request: Request) -> Response:
    """New contact details (e-mail and/or phone), checked as the sign-up form checks them."""
    form = await form_of(request)
    token = form.get("token", "")
    db = runtime_of(request).db
    email, phone, errors = _contact_of(form)
    if not errors:
        try:
            await _as_participant(
                request,
                registration_id,
                lambda: registrations.change_contact(db, token, registration_id, email, phone),
            )
            return _back(registration_id, token, "contact")
        except Conflict as exc:
            if not str(exc).startswith("this e-mail"):
                return await _refused(request, registration_id, token, exc)
            errors = {"email": "taken"}
        except (NotFound, TooManyRequests) as exc:
            return _link_problem(request, exc)
    return await _manage_again(request, registration_id, token, 400, errors=errors, values=form)


def _contact_of(form: dict[str, str]) -> tuple[str | None, str | None, dict[str, str]]:
    """(e-mail, phone, errors {field: key}) of the contact form, validated by ``SignUpIn``'s own rules."""
    email, phone = form.get("email", "").strip() or None, form.get("phone", "").strip() or None
    try:
        checked = SignUpIn(group="resident", name="x", email=email, phone=phone, consent=True)
    except ValidationError as exc:
        fields = {str(e["loc"][0]) for e in exc.errors() if e.get("loc")}
        errors = {f: f for f in fields & {"email", "phone"}} or {"email": "contact"}
        return None, None, errors
    return checked.email, checked.phone, {}


# --- erasure ----------------------------------------------------------------------------------------------


@router.get("/manage/{registration_id}/erase", response_class=HTMLResponse)
async def erase_ask(registration_id: uuid.UUID, request: Request, token: Token) -> HTMLResponse:
    """Are you sure? What will be erased, and the button that asks for the link."""
    try:
        own = await _own(request, registration_id, token)
    except (NotFound, TooManyRequests) as exc:
        return _link_problem(request, exc)
    return render(request, "erase_ask.html", tenant=own.tenant, own=own, place=own.place, token=token)


@router.post("/manage/{registration_id}/erase", response_class=HTMLResponse)
async def erase(registration_id: uuid.UUID, request: Request) -> HTMLResponse:
    """Ask for erasure: a link to confirm it goes to the participant's own contact."""
    token = (await form_of(request)).get("token", "")
    try:
        own = await _own(request, registration_id, token)
        await guard.request_erasure(request, token, own.place.participant_id)
    except (NotFound, TooManyRequests) as exc:
        return _link_problem(request, exc)
    return render(request, "erase_sent.html", tenant=own.tenant)


@router.get("/erase/{request_id}", response_class=HTMLResponse)
async def erase_page(request_id: uuid.UUID, request: Request, token: Token) -> HTMLResponse:
    """The erasure link: one button."""
    try:
        await guard.confirm_erasure(request, request_id, token, only_check=True)
    except (NotFound, Conflict, TooManyRequests) as exc:
        return _link_problem(request, exc)
    return render(request, "erase_confirm.html", request_id=request_id, token=token)


@router.post("/erase/{request_id}", response_class=HTMLResponse)
async def erase_confirmed(request_id: uuid.UUID, request: Request) -> HTMLResponse:
    """The button pressed: the data is erased now."""
    token = (await form_of(request)).get("token", "")
    try:
        await guard.confirm_erasure(request, request_id, token)
    except (NotFound, Conflict, TooManyRequests) as exc:
        return _link_problem(request, exc)
    return render(request, "erased.html")
