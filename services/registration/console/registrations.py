"""The coordinator's registrations page: newcomers and residents side by side, each with the people who have
a place and then the waiting list in order; sign-up on a newcomer's behalf; cancellation (asked first), which
gives the place to the next person waiting; the invitation link, its QR code and "make a new code"."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import segno
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from services.registration import domain
from services.registration.console.web import ConsoleRoute, Coordinator, render
from services.registration.pages import signup_form
from services.registration.pages.signup_form import N_, age_bands
from services.registration.pages.web import form_lists, language_of, spoken_languages
from services.registration.schemas import SignUpIn
from services.registration.usecases import meetings, registrations
from services.registration.usecases.common import now
from services.registration.usecases.sessions import ConsoleSession
from services.registration.views import MeetingView, RegistrationLine
from shared import localtime, vocabulary
from shared.errors import Conflict, Unprocessable
from shared.formats import FORMATS
from shared.service import runtime_of

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)

# The sign-up form's fields, in the order of the page.
FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "language",
    "interests",
    "occupation_field",
    "languages",
    "age_band",
    "norwegian_level",
    "consent",
)
# What matching pairs on (optional, like on the public form): checkbox groups, and single choices.
PROFILE_LISTS = ("interests", "languages")
MESSAGES = {
    "first_name": N_("Write the first name on one line, without numbers, e-mail or web addresses."),
    "last_name": N_("Write the last name on one line, without numbers, e-mail or web addresses."),
    "contact": N_("Write an e-mail address or a mobile number, so that the person gets their link."),
    "norwegian_level": N_("Choose how well the person speaks Norwegian."),
    "level_too_low": N_("This meeting needs Norwegian at level %(level)s or higher, so that the talk flows."),
    "consent": N_("Tick the box when the person has said yes. Nobody can be signed up without it."),
    "already": N_("This person is signed up for this meeting already."),
    "two_people": N_(
        "The e-mail address and the mobile number belong to two different people. Correct one, or give only one."
    ),
}
Error = tuple[str, dict[str, str]]


@dataclass
class SignUpForm:
    """The posted sign-up form: ``values`` as typed, the body when valid, ``errors`` ``{field: (msgid,
    values)}`` in the order of the form."""

    values: dict[str, str]
    body: SignUpIn | None = None
    errors: dict[str, Error] = field(default_factory=dict)
    lists: dict[str, list[str]] = field(default_factory=dict)


def read_sign_up(form: dict[str, str], page_language: str, lists: dict[str, list[str]] | None = None) -> SignUpForm:
    """The coordinator's sign-up of a newcomer as the API's ``SignUpIn`` (first and last name joined as the
    name; the consent the person gave the coordinator; what matching pairs on: ``lists`` of interests and
    spoken languages, an occupation field and an age band, all optional), or the errors beside the fields."""
    lists = {name: [v for v in (lists or {}).get(name, []) if v] for name in PROFILE_LISTS}
    values = {name: form.get(name, "").strip() for name in FIELDS if name not in PROFILE_LISTS}
    values["consent"] = "yes" if form.get("consent") in ("yes", "on", "true") else ""
    result = SignUpForm(values=values)
    errors: dict[str, Error] = {}
    for name in ("first_name", "last_name"):
        if domain.name_problem(values[name]) is not None:
            errors[name] = (MESSAGES[name], {})
    if not values["email"] and not values["phone"]:
        errors["email"] = (MESSAGES["contact"], {})
    if not values["norwegian_level"]:
        errors["norwegian_level"] = (MESSAGES["norwegian_level"], {})
    if not values["consent"]:
        errors["consent"] = (MESSAGES["consent"], {})
    data: dict[str, Any] = {
        "group": "newcomer",
        "name": f"{values['first_name']} {values['last_name']}",
        "email": values["email"] or None,
        "phone": values["phone"] or None,
        "language": values["language"] or page_language,
        "consent": bool(values["consent"]),
        "norwegian_level": values["norwegian_level"] or None,
        "interests": lists["interests"],
        "languages": lists["languages"],
        "occupation_field": values["occupation_field"] or None,
        "age_band": values["age_band"] or None,
    }
    result.lists = lists
    try:
        result.body = SignUpIn.model_validate(data)
    except ValidationError as exc:
        for name, message in signup_form.errors_of(exc).items():
            name = {"name": "first_name"}.get(name, name)
            if name in FIELDS:
                errors.setdefault(name, (message, {}))
    rank = {name: i for i, name in enumerate(FIELDS)}
    result.errors = dict(sorted(errors.items(), key=lambda item: rank[item[0]]))
    if result.errors:
        result.body = None
    return result


def signed_up_at(moment: datetime, timezone: str, language: str) -> str:
    """When someone signed up, on the tenant's clock: «4. mars kl. 10.15» / "4 March 10:15"."""
    local = localtime.local(moment, timezone)
    prefix = "kl. " if language in ("nb", "nn") else ""
    return f"{localtime.day(local, language)} {prefix}{localtime.clock(local, language)}"


def _clock(meeting: MeetingView) -> domain.MeetingClock:
    return domain.MeetingClock(meeting.starts_at, meeting.ends_at, meeting.registration_closes_at)


def columns(lines: list[RegistrationLine]) -> dict[str, dict[str, list[RegistrationLine]]]:
    """Per group: ``places`` (confirmed, or attendance recorded; in sign-up order), ``waiting`` (by position,
    1 first) and ``cancelled``."""
    result: dict[str, dict[str, list[RegistrationLine]]] = {}
    for group in domain.GROUPS:
        mine = [line for line in lines if line.group == group]
        result[group] = {
            "places": [line for line in mine if line.status in domain.ATTENDANCE_FROM],
            "waiting": sorted(
                (line for line in mine if line.status == "waitlisted"), key=lambda line: line.waitlist_position or 0
            ),
            "cancelled": [line for line in mine if line.status == "cancelled"],
        }
    return result


async def _registrations_page(
    request: Request,
    session: ConsoleSession,
    meeting_id: uuid.UUID,
    status: int = 200,
    *,
    values: dict[str, str] | None = None,
    lists: dict[str, list[str]] | None = None,
    errors: dict[str, Error] | None = None,
    refusal: str | None = None,
) -> Response:
    assert session.tenant is not None
    db = runtime_of(request).db
    meeting = await meetings.coordinator_meeting(db, session.principal, meeting_id)
    lines = await registrations.list_registrations(db, session.principal, meeting_id)
    language = language_of(request)
    at = now()
    clock = _clock(meeting)
    cancellable = {
        line.id
        for line in lines
        if domain.cancellation_problem(line.status, meeting.status, clock, at) is None
        and meeting.status in domain.PLACES_MOVE_IN
    }
    open_problem = domain.sign_up_problem(session.tenant.status, meeting.status, clock, at)
    message_languages = vocabulary.vocabulary()["notification_languages"]
    default_language = language if language in message_languages else "nb"
    done = request.query_params.get("done")
    return render(
        request,
        "registrations.html",
        status,
        meeting=meeting,
        columns=columns(lines),
        cancellable=cancellable,
        signed_at={line.id: signed_up_at(line.signed_up_at, meeting.timezone, language) for line in lines},
        open=open_problem is None,
        draft=meeting.status == "draft",
        values=values or {"language": default_language},
        lists=lists or {},
        errors=errors or {},
        interests=[i["id"] for i in vocabulary.vocabulary()["interests"]],
        occupations=[i["id"] for i in vocabulary.vocabulary()["occupation_fields"]],
        spoken=spoken_languages(language),
        age_bands=age_bands(meeting.format),
        refusal=refusal,
        levels=vocabulary.vocabulary()["cefr_levels"],
        min_level=FORMATS[meeting.format].min_norwegian_level,
        message_languages=message_languages,
        done=done if done in ("confirmed", "waitlisted", "cancelled") else None,
    )


@router.get("/console/meetings/{meeting_id}/registrations")
async def registrations_page(meeting_id: uuid.UUID, request: Request, session: Coordinator) -> Response:
    """Newcomers and residents side by side: places, then the waiting list in order; the sign-up form."""
    return await _registrations_page(request, session, meeting_id)


@router.post("/console/meetings/{meeting_id}/registrations")
async def sign_up(meeting_id: uuid.UUID, request: Request, session: Coordinator) -> Response:
    """Sign a newcomer up on their behalf: a place or the waiting list at once (303 back to the page,
    saying which); the page again with each error beside its field (400), or why sign-up is not open (409)."""
    db = runtime_of(request).db
    meeting = await meetings.coordinator_meeting(db, session.principal, meeting_id)
    posted = await form_lists(request)
    form = read_sign_up({k: v[-1] for k, v in posted.items()}, language_of(request), posted)
    if form.body is None:
        return await _registrations_page(
            request, session, meeting_id, 400, values=form.values, lists=form.lists, errors=form.errors
        )
    try:
        placed = await registrations.sign_up(db, session.principal, meeting_id, form.body)
    except Unprocessable:
        level = FORMATS[meeting.format].min_norwegian_level
        errors = {"norwegian_level": (MESSAGES["level_too_low"], {"level": level})}
        return await _registrations_page(request, session, meeting_id, 400, values=form.values, errors=errors)
    except Conflict as exc:
        detail = str(exc)
        if detail.startswith("this person is already signed up"):
            errors = {"email": (MESSAGES["already"], {})}
        elif detail.startswith("this e-mail address belongs to one participant"):
            errors = {"email": (MESSAGES["two_people"], {})}
        else:
            return await _registrations_page(request, session, meeting_id, 409, values=form.values, refusal="closed")
        return await _registrations_page(request, session, meeting_id, 400, values=form.values, errors=errors)
    return RedirectResponse(
        f"/console/meetings/{meeting_id}/registrations?done={placed.status}#{placed.status}-newcomer", status_code=303
    )


@router.get("/console/registrations/{registration_id}/cancel")
async def cancel_ask(registration_id: uuid.UUID, request: Request, session: Coordinator) -> Response:
    """ "Are you sure?" before cancelling a person's place (it goes to the next person waiting at once); a
    page saying why (409) when the place cannot be cancelled now."""
    line, meeting = await registrations.coordinator_registration(
        runtime_of(request).db, session.principal, registration_id
    )
    problem = domain.cancellation_problem(line.status, meeting.status, _clock(meeting), now())
    return render(
        request,
        "cancel_registration.html",
        409 if problem else 200,
        line=line,
        meeting=meeting,
        refused=problem is not None,
    )


@router.post("/console/registrations/{registration_id}/cancel")
async def cancel(registration_id: uuid.UUID, request: Request, session: Coordinator) -> Response:
    """Cancel the place; the first person waiting in the group gets it. 303 back to the registrations; a
    page saying why (409) when it cannot be cancelled now."""
    db = runtime_of(request).db
    line, meeting = await registrations.coordinator_registration(db, session.principal, registration_id)
    try:
        await registrations.cancel_registration(db, session.principal, None, registration_id)
    except Conflict:
        return render(request, "cancel_registration.html", 409, line=line, meeting=meeting, refused=True)
    return RedirectResponse(f"/console/meetings/{meeting.id}/registrations?done=cancelled", status_code=303)


# --- the invitation for newcomers ----------------------------------------------------------------------------


def _invitation(
    request: Request, session: ConsoleSession, meeting: MeetingView, status: int = 200, **extra: Any
) -> Response:
    assert session.tenant is not None
    slug = session.tenant.slug
    path = f"/t/{slug}/meetings/{meeting.id}?code={meeting.invitation_code}"
    link = f"{str(request.base_url).rstrip('/')}{path}"
    qr = segno.make(link, error="m").svg_inline(scale=5, dark="#000000", light="#ffffff", omitsize=True)
    can_renew = domain.invitation_code_problem(meeting.status, _clock(meeting), now()) is None
    done = request.query_params.get("done") == "new_code"
    return render(
        request,
        "invitation.html",
        status,
        meeting=meeting,
        link=link,
        qr=qr,
        printable=f"/t/{slug}/meetings/{meeting.id}/invitation?code={meeting.invitation_code}",
        draft=meeting.status == "draft",
        can_renew=can_renew,
        done=done,
        **extra,
    )


@router.get("/console/meetings/{meeting_id}/invitation")
async def invitation(meeting_id: uuid.UUID, request: Request, session: Coordinator) -> Response:
    """The newcomers' invitation: the link with the code, its QR code, the code in large type, the
    printable page, and "make a new code"."""
    meeting = await meetings.coordinator_meeting(runtime_of(request).db, session.principal, meeting_id)
    return _invitation(request, session, meeting)


@router.get("/console/meetings/{meeting_id}/invitation/new-code")
async def new_code_ask(meeting_id: uuid.UUID, request: Request, session: Coordinator) -> Response:
    """ "Are you sure?" before a new code: the old one stops working at once."""
    meeting = await meetings.coordinator_meeting(runtime_of(request).db, session.principal, meeting_id)
    if domain.invitation_code_problem(meeting.status, _clock(meeting), now()) is not None:
        return _invitation(request, session, meeting, 409, refused=True)
    return render(request, "invitation_new_code.html", meeting=meeting)


@router.post("/console/meetings/{meeting_id}/invitation/new-code")
async def new_code(meeting_id: uuid.UUID, request: Request, session: Coordinator) -> Response:
    """Make a new invitation code (the old one stops working), then the invitation page again (303); the
    page saying why (409) once sign-up is over."""
    db = runtime_of(request).db
    try:
        await meetings.new_invitation_code(db, session.principal, meeting_id)
    except Conflict:
        meeting = await meetings.coordinator_meeting(db, session.principal, meeting_id)
        return _invitation(request, session, meeting, 409, refused=True)
    return RedirectResponse(f"/console/meetings/{meeting_id}/invitation?done=new_code", status_code=303)
