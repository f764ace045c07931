"""The participant's own page, reached by the manage link in every message: see the place, cancel it,
give feedback after the meeting, or erase one's data. Plain HTML forms, no JavaScript."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError

from services.registration.deps import RuntimeDep
from services.registration.schemas import FeedbackIn
from services.registration.usecases import participants, registrations
from shared.errors import Conflict, NotFound

router = APIRouter(prefix="/manage", tags=["participant pages"], include_in_schema=False)
_templates = Environment(loader=FileSystemLoader(Path(__file__).with_name("templates")), autoescape=select_autoescape())


async def _form(request: Request) -> dict[str, str]:
    fields = parse_qs((await request.body()).decode(errors="replace"))
    return {k: v[-1] for k, v in fields.items()}


def _back(registration_id: uuid.UUID, token: str, message: str) -> Response:
    query = urlencode({"token": token, "message": message})
    return RedirectResponse(f"/manage/{registration_id}?{query}", status_code=303)


@router.get("/{registration_id}", response_class=HTMLResponse)
async def page(
    registration_id: uuid.UUID, runtime: RuntimeDep, token: Annotated[str, Query()], message: str = ""
) -> HTMLResponse:
    try:
        reg, meeting, feedback = await registrations.get_registration(runtime.db, None, token, registration_id)
    except NotFound:
        return HTMLResponse(_templates.get_template("manage_missing.html").render(), status_code=404)
    html = _templates.get_template("manage.html").render(
        reg=reg, meeting=meeting, feedback=feedback, token=token, message=message
    )
    return HTMLResponse(html)


@router.post("/{registration_id}/cancel")
async def cancel(registration_id: uuid.UUID, request: Request, runtime: RuntimeDep) -> Response:
    token = (await _form(request)).get("token", "")
    try:
        await registrations.cancel_registration(runtime.db, None, token, registration_id)
    except (NotFound, Conflict) as exc:
        return _back(registration_id, token, str(exc))
    return _back(registration_id, token, "Du er meldt av. / You have cancelled your place.")


@router.post("/{registration_id}/feedback")
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
        await registrations.give_feedback(runtime.db, token, registration_id, answers)
    except ValidationError:
        return _back(registration_id, token, "Velg et tall fra 1 til 5. / Choose a number from 1 to 5.")
    except (NotFound, Conflict) as exc:
        return _back(registration_id, token, str(exc))
    return _back(registration_id, token, "Takk for tilbakemeldingen! / Thank you for your feedback!")


@router.post("/{registration_id}/erase")
async def erase(registration_id: uuid.UUID, request: Request, runtime: RuntimeDep) -> Response:
    token = (await _form(request)).get("token", "")
    try:
        reg, _, _ = await registrations.get_registration(runtime.db, None, token, registration_id)
        await participants.erase_participant(runtime.db, None, token, reg["participant_id"])
    except NotFound:
        return HTMLResponse(_templates.get_template("manage_missing.html").render(), status_code=404)
    return HTMLResponse(_templates.get_template("manage_erased.html").render())
