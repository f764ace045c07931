"""HTTP routes for tenants and meetings: decode, authorise, delegate to the use cases."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response

from services.registration import api_registrations
from services.registration.deps import AnyPrincipal, Operator, OptionalPrincipal, RuntimeDep
from services.registration.schemas import (
    MeetingIn,
    MeetingOut,
    MeetingUpdate,
    SignInLinkIn,
    SignInLinkOut,
    TenantIn,
    TenantOut,
    TenantSettingsIn,
    TokenOut,
)
from services.registration.usecases import meetings, sessions, tenants
from services.registration.views import MeetingView, TenantView
from shared import vocabulary
from shared.auth import bearer

router = APIRouter(prefix="/v1")
# Routes are matched in order, and the public sign-up is the busiest of them all: it comes first.
router.include_router(api_registrations.router)


def tenant_out(view: TenantView) -> TenantOut:
    return TenantOut.model_validate(view, from_attributes=True)


def meeting_out(view: MeetingView) -> MeetingOut:
    return MeetingOut.model_validate(view, from_attributes=True)


@router.get("/vocabulary", tags=["public"])
async def get_vocabulary() -> dict[str, Any]:
    """The controlled lists (interests, occupation fields, languages, age bands ...) with nb/nn/en labels."""
    return {k: v for k, v in vocabulary.vocabulary().items() if k != "about"}


@router.post("/tenants", status_code=201, response_model=TenantOut, tags=["operator"])
async def create_tenant(body: TenantIn, runtime: RuntimeDep, _: Operator) -> TenantOut:
    return tenant_out(await tenants.create_tenant(runtime.db, body))


@router.get("/tenants", response_model=list[TenantOut], tags=["operator"])
async def list_tenants(runtime: RuntimeDep, _: Operator) -> list[TenantOut]:
    return [tenant_out(t) for t in await tenants.list_tenants(runtime.db)]


@router.get("/tenants/{slug}", response_model=TenantOut, tags=["operator"])
async def get_tenant(slug: str, runtime: RuntimeDep, _: Operator) -> TenantOut:
    return tenant_out(await tenants.get_tenant(runtime.db, slug))


@router.patch("/tenants/{slug}", response_model=TenantOut, tags=["operator"])
async def update_tenant(slug: str, body: TenantSettingsIn, runtime: RuntimeDep, _: Operator) -> TenantOut:
    """Settings: name, time zone, the daytime window for meetings, and how long personal data is kept."""
    return tenant_out(await tenants.update_settings(runtime.db, slug, body))


@router.post("/tenants/{slug}/suspend", response_model=TenantOut, tags=["operator"])
async def suspend_tenant(slug: str, runtime: RuntimeDep, _: Operator) -> TenantOut:
    """Its coordinator tokens stop working and its meetings take no sign-ups; nothing is deleted."""
    return tenant_out(await tenants.set_status(runtime.db, slug, "suspended"))


@router.post("/tenants/{slug}/reactivate", response_model=TenantOut, tags=["operator"])
async def reactivate_tenant(slug: str, runtime: RuntimeDep, _: Operator) -> TenantOut:
    return tenant_out(await tenants.set_status(runtime.db, slug, "active"))


@router.post("/tenants/{slug}/tokens", status_code=201, response_model=TokenOut, tags=["operator"])
async def issue_token(slug: str, runtime: RuntimeDep, _: Operator) -> TokenOut:
    """A coordinator token for this tenant. It is shown once; only its hash is kept."""
    issued = await tenants.issue_token(runtime.db, slug)
    return TokenOut(token_id=issued.token_id, token=issued.token)


@router.delete("/tenants/{slug}/tokens/{token_id}", status_code=204, tags=["operator"])
async def revoke_token(slug: str, token_id: uuid.UUID, runtime: RuntimeDep, _: Operator) -> Response:
    await tenants.revoke_token(runtime.db, slug, token_id)
    return Response(status_code=204)


@router.post("/console/sign-in-links", status_code=201, response_model=SignInLinkOut, tags=["console"])
async def console_sign_in_link(
    request: Request, runtime: RuntimeDep, principal: AnyPrincipal, body: SignInLinkIn | None = None
) -> SignInLinkOut:
    """A one-time link that opens the console signed in as the caller (a coordinator or the operator, by the
    bearer token of this request), so that a person need not paste the token into the sign-in form; `make up`
    prints one for the demo coordinator.

    Body (optional): `{"valid_for_s": 60 .. 604800}` (default 3600). Answer: `{"url", "expires_at"}`; the
    link works once, until `expires_at`, and only while the token does (not revoked, tenant not suspended).
    Treat it like the token itself."""
    valid_for_s = (body or SignInLinkIn()).valid_for_s
    link, expires_at = await sessions.sign_in_link_for_token(
        runtime.db, runtime.settings.operator_token.get_secret_value(), bearer(request) or "", valid_for_s
    )
    assert link is not None, f"{principal.role}'s token was accepted a moment ago"
    return SignInLinkOut(url=str(request.base_url).rstrip("/") + link.path, expires_at=expires_at)


@router.post("/tenants/{slug}/meetings", status_code=201, response_model=MeetingOut, tags=["coordinator"])
async def create_meeting(slug: str, body: MeetingIn, runtime: RuntimeDep, principal: AnyPrincipal) -> MeetingOut:
    """A new meeting in `draft`. The format sets the default group sizes, length and pairing weights."""
    return meeting_out(await meetings.create_meeting(runtime.db, principal, slug, body))


@router.get("/tenants/{slug}/meetings", response_model=list[MeetingOut], tags=["coordinator"])
async def list_meetings(slug: str, runtime: RuntimeDep, principal: AnyPrincipal) -> list[MeetingOut]:
    return [meeting_out(m) for m in await meetings.list_meetings(runtime.db, principal, slug)]


@router.get("/meetings/{meeting_id}", response_model=MeetingOut, tags=["public"])
async def get_meeting(meeting_id: uuid.UUID, runtime: RuntimeDep, principal: OptionalPrincipal) -> MeetingOut:
    """Coordinators see their meetings in every state; anyone sees a meeting once it is published."""
    return meeting_out(await meetings.get_meeting(runtime.db, principal, meeting_id))


@router.patch("/meetings/{meeting_id}", response_model=MeetingOut, tags=["coordinator"])
async def update_meeting(
    meeting_id: uuid.UUID, body: MeetingUpdate, runtime: RuntimeDep, principal: AnyPrincipal
) -> MeetingOut:
    """Edit until registration closes. More places promote people from the waiting list."""
    return meeting_out(await meetings.update_meeting(runtime.db, principal, meeting_id, body))


@router.post("/meetings/{meeting_id}/invitation-code", response_model=MeetingOut, tags=["coordinator"])
async def new_invitation_code(meeting_id: uuid.UUID, runtime: RuntimeDep, principal: AnyPrincipal) -> MeetingOut:
    """Make a new invitation code for newcomers' own sign-up; the old code and its links stop working for new
    sign-ups (those already waiting for their confirmation keep it)."""
    return meeting_out(await meetings.new_invitation_code(runtime.db, principal, meeting_id))


def _lifecycle(action: str) -> Any:
    async def change(meeting_id: uuid.UUID, runtime: RuntimeDep, principal: AnyPrincipal) -> MeetingOut:
        return meeting_out(await meetings.transition(runtime.db, principal, meeting_id, action))

    change.__name__ = f"{action}_meeting"
    change.__doc__ = f"Lifecycle: {action} the meeting (draft → published → registration_closed → completed)."
    return change


for _action in ("publish", "close", "cancel", "complete"):
    router.add_api_route(
        f"/meetings/{{meeting_id}}/{_action}",
        _lifecycle(_action),
        methods=["POST"],
        response_model=MeetingOut,
        tags=["coordinator"],
    )
