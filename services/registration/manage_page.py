"""The participant's own pages: the manage link in every message (see the place, cancel it, give feedback
after the meeting, ask to erase one's data), and the links that confirm a sign-up or an erasure.
Plain HTML forms, no JavaScript.

While the database cannot be reached, every page answers 503 with ``Retry-After`` and a plain HTML page
that says so in Norwegian and English (the API answers problem+json instead)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError

from services.registration import guard
from services.registration.deps import RuntimeDep
from services.registration.schemas import FeedbackIn
from services.registration.usecases import registrations
from shared.db import CONNECTION_ERRORS, is_connection_error
from shared.errors import Conflict, NotFound, TooManyRequests
from shared.http import log_database_unavailable, retry_after_s

T = TypeVar("T")
_templates = Environment(loader=FileSystemLoader(Path(__file__).with_name("templates")), autoescape=select_autoescape())


def unavailable_page(retry_after: int) -> HTMLResponse:
    """The page shown while the database cannot be reached: 503 with ``Retry-After`` (seconds)."""
    return _page(
        "link_problem.html",
        503,
        {"Retry-After": str(retry_after)},
        nb="Tjenesten er midlertidig utilgjengelig. Prøv igjen om litt.",
        en=f"The service is temporarily unavailable. Please try again in {retry_after} seconds.",
    )


class _PageRoute(APIRoute):
    """A participant page: a database outage, wherever it surfaces (abuse limits, the use case), is
    answered with ``unavailable_page`` rather than problem+json."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_or_unavailable(request: Request) -> Response:
            try:
                return await handler(request)
            except CONNECTION_ERRORS as exc:
                if not is_connection_error(exc):
                    raise
                log_database_unavailable(request, exc)
                return unavailable_page(retry_after_s(request))

        return page_or_unavailable


router = APIRouter(tags=["participant pages"], include_in_schema=False, route_class=_PageRoute)


async def _form(request: Request) -> dict[str, str]:
    fields = parse_qs((await request.body()).decode(errors="replace"))
    return {k: v[-1] for k, v in fields.items()}


def _back(registration_id: uuid.UUID, token: str, message: str, *, problem: bool = False) -> Response:
    """Back to the page with a message; ``problem`` shows it as a refusal (never in the success box)."""
    fields = {"token": token, "message": message, **({"problem": "1"} if problem else {})}
    return RedirectResponse(f"/manage/{registration_id}?{urlencode(fields)}", status_code=303)


def _refused(registration_id: uuid.UUID, token: str, exc: Exception) -> Response:
    return _back(registration_id, token, f"Det gikk ikke. / That did not work: {exc}", problem=True)


def _page(template: str, status_code: int = 200, headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    return HTMLResponse(_templates.get_template(template).render(**context), status_code=status_code, headers=headers)


# What a link that does not work says, in Norwegian first (the page's language) and in English.
_LINK_PROBLEMS = {
    404: ("Lenken virker ikke. Kopier hele lenken fra meldingen.", "This link does not work. Copy the whole link."),
    429: ("For mange forsøk. Prøv igjen senere.", "Too many attempts. Please try again later."),
}


# A refused link (409) says which refusal it is, in Norwegian too: "used or expired" left the reader to
# guess, and was wrong when sign-up had closed (issue 17, kind 7). Keyed by the start of the use case's detail.
_CONFLICTS_NB = (
    ("this sign-up is confirmed already", "Påmeldingen er bekreftet allerede. Lenken til plassen står i meldingen."),
    ("this confirmation link has expired", "Lenken er utløpt. Meld deg på igjen."),
    ("your data has been erased already", "Opplysningene dine er slettet allerede."),
    ("this link has expired", "Lenken er utløpt. Be om sletting på nytt fra siden for møtet ditt."),
    ("registration closed at", "Påmeldingen til møtet er stengt."),
    ("sign-up is", "Påmeldingen til møtet er stengt."),
    ("the meeting is", "Møtet tar ikke imot påmeldinger nå."),
)


def link_problem_text(status: int, detail: str) -> tuple[str, str]:
    """The Norwegian and English text of a link that cannot be used: which problem, and what to do."""
    if status == 409:
        nb = next((text for start, text in _CONFLICTS_NB if detail.startswith(start)), "Lenken kan ikke brukes nå.")
        return nb, detail[:1].upper() + detail[1:] + "."
    nb, en = _LINK_PROBLEMS.get(status, _LINK_PROBLEMS[404])
    return nb, f"{en} {detail}"


def _link_problem(exc: Exception) -> HTMLResponse:
    status = getattr(exc, "status", 404)
    nb, en = link_problem_text(status, str(exc))
    headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, TooManyRequests) else None
    return _page("link_problem.html", status, headers, nb=nb, en=en)


async def _participant(request: Request, registration_id: uuid.UUID, attempt: Callable[[], Awaitable[T]]) -> T:
    return await guard.with_manage_token(request, registration_id, attempt)


@router.get("/manage/{registration_id}", response_class=HTMLResponse)
async def page(
    registration_id: uuid.UUID,
    request: Request,
    runtime: RuntimeDep,
    token: Annotated[str, Query(max_length=128)],
    message: Annotated[str, Query(max_length=300)] = "",
    problem: Annotated[bool, Query()] = False,
) -> HTMLResponse:
    try:
        place = await _participant(
            request, registration_id, lambda: registrations.get_registration(runtime.db, None, token, registration_id)
        )
    except NotFound:
        return _page("manage_missing.html", 404)
    except TooManyRequests as exc:
        return _link_problem(exc)
    return _page(
        "manage.html",
        reg=place,
        meeting=place.meeting,
        # the tenant's clock, not UTC: the reader should not have to convert
        starts=place.meeting.local_starts,
        ends=place.meeting.local_ends,
        offers=place.offers,
        token=token,
        message=message,
        problem=problem,
    )


@router.post("/manage/{registration_id}/cancel")
async def cancel(registration_id: uuid.UUID, request: Request, runtime: RuntimeDep) -> Response:
    token = (await _form(request)).get("token", "")
    try:
        await _participant(
            request,
            registration_id,
            lambda: registrations.cancel_registration(runtime.db, None, token, registration_id),
        )
    except (NotFound, Conflict, TooManyRequests) as exc:
        return _refused(registration_id, token, exc)
    return _back(registration_id, token, "Du er meldt av. / You have cancelled your place.")


@router.post("/manage/{registration_id}/feedback")
async def feedback(registration_id: uuid.UUID, request: Request, runtime: RuntimeDep) -> Response:
    form = await _form(request)
    token = form.get("token", "")
    try:
        answers = FeedbackIn(
            rating=int(form.get("rating", "0") or 0),
            new_connection=form.get("new_connection") == "yes",
            would_recommend=form.get("would_recommend") == "yes",
            comment=form.get("comment") or None,
        )
        await _participant(
            request, registration_id, lambda: registrations.give_feedback(runtime.db, token, registration_id, answers)
        )
    except (ValidationError, ValueError):
        return _back(registration_id, token, "Velg et tall fra 1 til 5. / Choose a number from 1 to 5.", problem=True)
    except (NotFound, Conflict, TooManyRequests) as exc:
        return _refused(registration_id, token, exc)
    return _back(registration_id, token, "Takk for tilbakemeldingen! / Thank you for your feedback!")


@router.post("/manage/{registration_id}/erase")
async def erase(registration_id: uuid.UUID, request: Request, runtime: RuntimeDep) -> Response:
    """Ask for erasure: a link to confirm it goes to the participant's own contact."""
    token = (await _form(request)).get("token", "")
    try:
        place = await _participant(
            request, registration_id, lambda: registrations.get_registration(runtime.db, None, token, registration_id)
        )
        await guard.request_erasure(request, token, place.participant_id)
    except NotFound:
        return _page("manage_missing.html", 404)
    except TooManyRequests as exc:
        return _link_problem(exc)
    return _back(
        registration_id,
        token,
        "Vi har sendt deg en lenke. Åpne den innen 24 timer for å slette opplysningene dine."
        " / We have sent you a link. Open it within 24 hours to erase your data.",
    )


# --- the links in the confirmation and erasure messages -----------------------------------------------
# A GET only shows a button (mail scanners open links); the POST acts.


@router.get("/confirm/{signup_id}", response_class=HTMLResponse)
async def confirm_page(
    signup_id: uuid.UUID, request: Request, token: Annotated[str, Query(max_length=128)]
) -> HTMLResponse:
    try:
        meeting = await guard.signup_for_link(request, signup_id, token)
    except (NotFound, Conflict, TooManyRequests) as exc:
        return _link_problem(exc)
    return _page(
        "confirm.html",
        meeting=meeting,
        starts=meeting.local_starts,
        ends=meeting.local_ends,
        signup_id=signup_id,
        token=token,
    )


@router.post("/confirm/{signup_id}")
async def confirm(signup_id: uuid.UUID, request: Request) -> Response:
    token = (await _form(request)).get("token", "")
    try:
        done = await guard.confirm_sign_up(request, signup_id, token)
    except (NotFound, Conflict, TooManyRequests) as exc:
        return _link_problem(exc)
    if done.manage_token is None:
        return _page(
            "link_problem.html",
            nb="Du var allerede påmeldt. Vi har sendt deg lenken til plassen din på nytt.",
            en="You were already signed up. We have sent you the link to your place again.",
        )
    message = (
        "Påmeldingen er bekreftet: du har plass. / Your sign-up is confirmed: you have a place."
        if done.outcome == "confirmed"
        else "Møtet er fullt: du står på ventelisten. / The meeting is full: you are on the waiting list."
    )
    return _back(done.registration_id, done.manage_token, message)


@router.get("/erase/{request_id}", response_class=HTMLResponse)
async def erase_page(
    request_id: uuid.UUID, request: Request, token: Annotated[str, Query(max_length=128)]
) -> HTMLResponse:
    try:
        await guard.confirm_erasure(request, request_id, token, only_check=True)
    except (NotFound, Conflict, TooManyRequests) as exc:
        return _link_problem(exc)
    return _page("erase_confirm.html", request_id=request_id, token=token)


@router.post("/erase/{request_id}")
async def erase_confirmed(request_id: uuid.UUID, request: Request) -> Response:
    token = (await _form(request)).get("token", "")
    try:
        await guard.confirm_erasure(request, request_id, token)
    except (NotFound, Conflict, TooManyRequests) as exc:
        return _link_problem(exc)
    return _page("manage_erased.html")
