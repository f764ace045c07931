"""The operator's console: the municipalities with their status and last activity, a form to add one, and a
municipality's page with its details, its coordinators' access keys (issued, shown once with a one-time
sign-in link, revoked) and its suspension. Every page here is the operator's: a coordinator is told "not
found"."""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from services.registration.console.web import ConsoleRoute, OperatorSession, render
from services.registration.pages.signup_form import N_
from services.registration.pages.web import form_of, language_of
from services.registration.schemas import SIGN_IN_LINK_MAX_S, TenantIn, TenantSettingsIn
from services.registration.usecases import tenants
from services.registration.usecases.common import now
from services.registration.usecases.tenants import TenantTaken
from services.registration.views import AccessKey, TenantActivity
from shared import localtime
from shared.errors import NotFound
from shared.service import runtime_of

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)

TENANT_STATUS = {"active": N_("Active"), "suspended": N_("Suspended")}
# The create form's fields, in the order of the page (the error summary lists them in it).
FIELDS = ("name", "slug", "municipality_number", "contact_email", "contact_phone")
MESSAGES = {
    "name": N_("Write the municipality's name on one line (at most 200 characters)."),
    "slug": N_(
        "Use 2 to 63 characters: small letters a–z, digits and hyphens, starting with a letter or a digit,"
        " for example arendal."
    ),
    "slug_taken": N_("Another municipality has this short name already. Choose another one."),
    "municipality_number": N_("Write the municipality number: four digits, for example 4203."),
    "number_taken": N_("Another municipality has this number already. Check the number."),
    "contact_email": N_("Write an e-mail address like postmottak@kommune.no, or leave the field empty."),
    "contact_phone": N_("Write a phone number like 37 01 30 00, or leave the field empty."),
}
# What a finished action says on the municipality's page (``?done=``).
DONE = {
    "created": N_("The municipality is added. Create an access key for its first coordinator below."),
    "revoked": N_("The access key is revoked. Whoever was signed in with it is signed out."),
    "suspended": N_("The municipality is suspended."),
    "reactivated": N_("The municipality is active again."),
}
# A new coordinator's one-time sign-in link works for a week; after that the access key alone.
NEW_KEY_LINK_S = SIGN_IN_LINK_MAX_S


def moment(at: datetime | None, timezone: str, language: str) -> str:
    """``at`` on ``timezone``'s clock in ``language``: «tirsdag 2. mars 2027, 10.00»; "" for None."""
    if at is None:
        return ""
    local = localtime.local(at, timezone)
    return f"{localtime.day(local, language, year=True)}, {localtime.clock(local, language)}"


def _page(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    language = language_of(request)
    return render(
        request,
        template,
        status_code,
        tenant_status=TENANT_STATUS,
        moment=lambda at, timezone="Europe/Oslo": moment(at, timezone, language),
        **context,
    )


def read_tenant_form(form: dict[str, str]) -> tuple[TenantIn | None, TenantSettingsIn | None, dict[str, str]]:
    """The posted form as the API's ``TenantIn`` and the contact as ``TenantSettingsIn`` (only what was
    filled in), or the errors: {field: msgid}, in the order of the form."""
    values = {name: form.get(name, "").strip() for name in FIELDS}
    errors: dict[str, str] = {}
    body = contact = None
    try:
        body = TenantIn(slug=values["slug"], name=values["name"], municipality_number=values["municipality_number"])
    except ValidationError as exc:
        errors.update({str(e["loc"][0]): MESSAGES[str(e["loc"][0])] for e in exc.errors() if e["loc"]})
    given = {name: values[name] for name in ("contact_email", "contact_phone") if values[name]}
    try:
        contact = TenantSettingsIn.model_validate(given)
    except ValidationError as exc:
        errors.update({str(e["loc"][0]): MESSAGES[str(e["loc"][0])] for e in exc.errors() if e["loc"]})
    return body, contact, {name: errors[name] for name in FIELDS if name in errors}


@router.get("/console/tenants")
async def tenant_list(request: Request, session: OperatorSession) -> Response:
    found = await tenants.tenants_with_activity(runtime_of(request).db)
    return _page(request, "tenants.html", found=found, values={}, errors={})


@router.post("/console/tenants")
async def create_tenant(request: Request, session: OperatorSession) -> Response:
    """Add a municipality from the form: every error beside its field (400, or 409 for a short name or number
    another municipality has), or on to its page (303)."""
    form = await form_of(request)
    body, contact, errors = read_tenant_form(form)
    status = 400
    if body is not None and contact is not None and not errors:
        try:
            created = await tenants.create_tenant(runtime_of(request).db, body, contact)
        except TenantTaken as exc:
            errors = {
                **({"slug": MESSAGES["slug_taken"]} if exc.slug else {}),
                **({"municipality_number": MESSAGES["number_taken"]} if exc.number else {}),
            } or {"slug": MESSAGES["slug_taken"]}
            status = 409
        else:
            return RedirectResponse(f"/console/tenants/{created.slug}?done=created", status_code=303)
    found = await tenants.tenants_with_activity(runtime_of(request).db)
    values = {name: form.get(name, "") for name in FIELDS}
    return _page(request, "tenants.html", status, found=found, values=values, errors=errors)


async def _tenant_page(request: Request, slug: str, status_code: int = 200, **context: Any) -> Response:
    overview, keys = await tenants.tenant_overview(runtime_of(request).db, slug)
    done = request.query_params.get("done")
    return _page(
        request, "tenant.html", status_code, overview=overview, keys=keys, done=DONE.get(done or ""), **context
    )


@router.get("/console/tenants/{slug}")
async def tenant_page(request: Request, slug: str, session: OperatorSession) -> Response:
    return await _tenant_page(request, slug)


@router.post("/console/tenants/{slug}/keys")
async def new_key(request: Request, slug: str, session: OperatorSession) -> Response:
    """Issue a coordinator access key and show it once, on the page this post answers (never in an address;
    the page is not cached), with a one-time sign-in link for the new coordinator."""
    issued, link = await tenants.issue_token_with_link(runtime_of(request).db, slug, NEW_KEY_LINK_S)
    return await _tenant_page(
        request,
        slug,
        issued=issued,
        sign_in_url=str(request.base_url).rstrip("/") + link.path,
        link_expires_at=now() + timedelta(seconds=NEW_KEY_LINK_S),
    )


def _token_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError as exc:
        raise NotFound(f"no access key {text!r}") from exc


async def _key(request: Request, slug: str, token_id: str) -> tuple[TenantActivity, AccessKey]:
    """The municipality and one of its access keys (active or revoked). Raises NotFound."""
    overview, keys = await tenants.tenant_overview(runtime_of(request).db, slug)
    wanted = _token_id(token_id)
    key = next((k for k in keys if k.token_id == wanted), None)
    if key is None:
        raise NotFound(f"no access key {token_id} for tenant '{slug}'")
    return overview, key


@router.get("/console/tenants/{slug}/keys/{token_id}/revoke")
async def revoke_ask(request: Request, slug: str, token_id: str, session: OperatorSession) -> Response:
    """Ask first: what revoking means (the key stops working, its sessions end)."""
    overview, key = await _key(request, slug, token_id)
    if not key.active:
        return RedirectResponse(f"/console/tenants/{slug}?done=revoked", status_code=303)
    return _page(request, "tenant_ask.html", overview=overview, action="revoke", key=key)


@router.post("/console/tenants/{slug}/keys/{token_id}/revoke")
async def revoke(request: Request, slug: str, token_id: str, session: OperatorSession) -> Response:
    """Revoke the key (one revoked already: nothing more to do), then back to the municipality's page."""
    _, key = await _key(request, slug, token_id)
    if key.active:
        # Revoked by another request in the meantime (NotFound): the outcome is the one asked for.
        with contextlib.suppress(NotFound):
            await tenants.revoke_token(runtime_of(request).db, slug, key.token_id)
    return RedirectResponse(f"/console/tenants/{slug}?done=revoked", status_code=303)


STATUS_OF_ACTION = {"suspend": "suspended", "reactivate": "active"}


@router.get("/console/tenants/{slug}/{action}")
async def status_ask(request: Request, slug: str, action: str, session: OperatorSession) -> Response:
    """Ask first: what suspending (or reactivating) means for the municipality's coordinators and sign-ups."""
    if action not in STATUS_OF_ACTION:
        raise NotFound(f"no page {action!r}")
    overview, _ = await tenants.tenant_overview(runtime_of(request).db, slug)
    return _page(request, "tenant_ask.html", overview=overview, action=action)


@router.post("/console/tenants/{slug}/{action}")
async def change_status(request: Request, slug: str, action: str, session: OperatorSession) -> Response:
    """Suspend or reactivate the municipality (again: nothing changes), then back to its page."""
    if action not in STATUS_OF_ACTION:
        raise NotFound(f"no page {action!r}")
    changed = await tenants.set_status(runtime_of(request).db, slug, STATUS_OF_ACTION[action])
    done = "suspended" if changed.status == "suspended" else "reactivated"
    return RedirectResponse(f"/console/tenants/{slug}?done={done}", status_code=303)
