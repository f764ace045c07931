"""The public pages: a tenant's upcoming meetings, one meeting with its sign-up form (residents; newcomers
through the invitation link), "check your inbox", and the coordinator's printable invitation with its QR code.

The form posts through the same abuse limits and double opt-in as ``POST /v1/meetings/{id}/registrations``
(``guard.public_sign_up``): the page is another door to the same use case."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.registration import guard
from services.registration.pages import signup_form
from services.registration.pages.web import (
    PageRoute,
    csrf_refused,
    form_lists,
    language_of,
    render,
    shows_refused_form,
    spoken_languages,
)
from services.registration.usecases import public
from services.registration.views import MeetingPage
from shared import vocabulary
from shared.errors import Conflict, Forbidden, NotFound, TooManyRequests, Unprocessable
from shared.service import runtime_of

router = APIRouter(tags=["participant pages"], include_in_schema=False, route_class=PageRoute)
Code = Annotated[str | None, Query(max_length=64)]


def not_found(request: Request) -> HTMLResponse:
    """The 404 page: the address does not lead to a page."""
    return render(request, "not_found.html", 404)


def too_many(request: Request, exc: TooManyRequests) -> HTMLResponse:
    """The 429 page, with ``Retry-After``."""
    return render(request, "link_problem.html", 429, {"Retry-After": str(exc.retry_after_s)}, problem="too_many")


async def _meeting(request: Request, slug: str, meeting_id: uuid.UUID, code: str | None) -> MeetingPage:
    """The meeting's page; a code is checked under the limits on wrong invitation codes."""
    db = runtime_of(request).db
    if code is None:
        return await public.meeting_page(db, slug, meeting_id)
    return await guard.invitation_checked(request, meeting_id, lambda: public.meeting_page(db, slug, meeting_id, code))


async def _meeting_or_wrong_code(
    request: Request, slug: str, meeting_id: uuid.UUID, code: str | None
) -> tuple[MeetingPage, dict[str, str]] | HTMLResponse:
    """The meeting's page and the code field's errors: ``{}``, or, for a wrong code, the residents' page
    with ``{"code": WRONG_CODE}``; else the page to answer with (404 for no such meeting, 429)."""
    try:
        return await _meeting(request, slug, meeting_id, code), {}
    except Forbidden:
        try:
            return await public.meeting_page(runtime_of(request).db, slug, meeting_id), {"code": WRONG_CODE}
        except NotFound:
            return not_found(request)
    except NotFound:
        return not_found(request)
    except TooManyRequests as exc:
        return too_many(request, exc)


# The error beside the code field of the meeting page when a typed invitation code is wrong.
WRONG_CODE = signup_form.N_(
    "We do not know this code for this meeting. Check it, or ask the person who gave it to you."
)


def _form_context(page: MeetingPage, language: str) -> dict[str, Any]:
    vocab = vocabulary.vocabulary()
    return {
        "page": page,
        "tenant": page.tenant,
        "meeting": page.meeting.meeting,
        "newcomer": page.invitation_code is not None,
        "interests": [i["id"] for i in vocab["interests"]],
        "occupations": [i["id"] for i in vocab["occupation_fields"]],
        "spoken": spoken_languages(language),
        "age_bands": signup_form.age_bands(page.meeting.meeting.format),
        "genders": [i["id"] for i in vocab["genders"]],
        "levels": vocab["cefr_levels"],
        "message_languages": vocab["notification_languages"],
    }


@router.get("/t/{slug}", response_class=HTMLResponse)
async def tenant_page(slug: str, request: Request) -> HTMLResponse:
    """The tenant's public page: its upcoming published meetings."""
    try:
        page = await public.tenant_page(runtime_of(request).db, slug[:64])
    except NotFound:
        return not_found(request)
    return render(request, "tenant.html", tenant=page.tenant, meetings=page.meetings)


@router.get("/t/{slug}/meetings/{meeting_id}", response_class=HTMLResponse)
async def meeting_page(slug: str, meeting_id: uuid.UUID, request: Request, code: Code = None) -> HTMLResponse:
    """The meeting, what Folk møter folk is, and the sign-up form (a newcomer's with ``?code=``). A wrong
    code (typed into the page's code field, or a wrong link) shows the residents' page with the error
    beside the code field (404), counted like a wrong code in a sign-up."""
    code = (code or "").strip() or None
    found = await _meeting_or_wrong_code(request, slug, meeting_id, code)
    if isinstance(found, Response):
        return found
    page, wrong = found
    language = language_of(request)
    values = {"language": language if language in vocabulary.ids("notification_languages") else "nb"}
    return render(
        request,
        "meeting.html",
        404 if wrong else 200,
        **_form_context(page, language),
        values=values,
        lists={},
        errors={},
        code_errors=wrong,
        typed_code=code or "",
    )


@router.post("/t/{slug}/meetings/{meeting_id}", response_model=None)
async def sign_up(slug: str, meeting_id: uuid.UUID, request: Request, code: Code = None) -> Response:
    """The form posted: the page again (400) with each error beside its field, or on to "check your inbox"."""
    posted = await form_lists(request)
    code = code or (posted.get("code", [""])[-1] or None)
    found = await _meeting_or_wrong_code(request, slug, meeting_id, code)
    if isinstance(found, Response):
        return found
    # A wrong code here is usually one the coordinator has replaced since the page was opened: the page
    # again with the error beside the code field and what was typed kept; nothing is done.
    page, wrong = found
    language = language_of(request)
    form = signup_form.read(posted, page.invitation_code, language)
    context = _form_context(page, language) | {"values": form.values, "lists": form.lists}
    if wrong:
        return render(request, "meeting.html", 404, **context, errors={}, code_errors=wrong, typed_code=code or "")
    if csrf_refused(request):
        # The form's token was refused (out of date): nothing is done; the form again, input kept.
        return render(request, "meeting.html", 403, **context, errors={}, stale=True)
    if form.body is None:
        return render(request, "meeting.html", 400, **context, errors=form.errors)
    try:
        await guard.public_sign_up(request, meeting_id, form.body)
    except Unprocessable:
        return render(
            request, "meeting.html", 400, **context, errors={"norwegian_level": signup_form.MESSAGES["level_too_low"]}
        )
    except (Conflict, Forbidden):
        return render(request, "meeting.html", 400, **context, errors={}, closed=True)
    except NotFound:
        return not_found(request)
    except TooManyRequests as exc:
        return too_many(request, exc)
    by = "email" if form.body.email else "sms"
    return RedirectResponse(f"/t/{slug}/meetings/{meeting_id}/check-inbox?by={by}", status_code=303)


shows_refused_form(sign_up)


@router.get("/t/{slug}/meetings/{meeting_id}/check-inbox", response_class=HTMLResponse)
async def check_inbox(
    slug: str, meeting_id: uuid.UUID, request: Request, by: Annotated[str, Query(max_length=8)] = "email"
) -> HTMLResponse:
    """After the form: open the link in the message (e-mail, or SMS without one)."""
    try:
        page = await public.meeting_page(runtime_of(request).db, slug, meeting_id)
    except NotFound:
        return not_found(request)
    return render(request, "check_inbox.html", tenant=page.tenant, meeting=page.meeting.meeting, by_sms=by == "sms")


@router.get("/t/{slug}/meetings/{meeting_id}/invitation", response_class=HTMLResponse)
async def invitation(
    slug: str, meeting_id: uuid.UUID, request: Request, code: Annotated[str, Query(max_length=64)]
) -> HTMLResponse:
    """The coordinator's printable invitation for newcomers: the link with the code, and its QR code."""
    try:
        page = await _meeting(request, slug, meeting_id, code)
    except (NotFound, Forbidden):
        return not_found(request)
    except TooManyRequests as exc:
        return too_many(request, exc)
    link = f"{request.base_url}t/{slug}/meetings/{meeting_id}?code={page.invitation_code}"
    # The address to type: the tenant's page, without the scheme (it leads to the meeting and its code field).
    short = f"{request.base_url}t/{slug}".split("://", 1)[-1]
    qr = segno.make(link, error="m").svg_inline(scale=6, dark="#000000", light="#ffffff", omitsize=True)
    return render(
        request,
        "invitation.html",
        tenant=page.tenant,
        meeting=page.meeting.meeting,
        link=link,
        short=short,
        qr=qr,
        code=page.invitation_code,
    )
