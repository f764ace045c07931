"""Request dependencies of the registration API: who is calling, and the shapes it answers with."""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, Header, Request

from services.registration import domain, guard
from services.registration.schemas import AgendaItemOut, GroupCounts, MeetingOut, TenantOut
from services.registration.usecases.common import meeting_facts
from shared import logs
from shared.auth import Principal, bearer, resolve, unauthorized
from shared.errors import NotFound
from shared.service import Runtime, current_runtime, runtime_of

RuntimeDep = Annotated[Runtime, Depends(current_runtime)]


async def optional_principal(request: Request) -> Principal | None:
    token = bearer(request)
    if token is None:
        return None
    runtime = runtime_of(request)
    await guard.check_bearer(request)
    async with runtime.db.acquire() as conn:
        principal = await resolve(conn, token, runtime.settings.operator_token)
    if principal is None:
        await guard.bearer_failed(request)
    if principal is None and request.headers.get("x-manage-token") is None:
        raise unauthorized("The bearer token is unknown, revoked, or its tenant is suspended.")
    if principal is not None and principal.tenant_id is not None:
        logs.bind(tenant_id=str(principal.tenant_id))
    return principal


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
ManageToken = Annotated[
    str | None, Header(alias="X-Manage-Token", description="The participant's manage token for this registration.")
]


def tenant_out(row: Any) -> TenantOut:
    return TenantOut(
        id=row["id"],
        slug=row["slug"],
        name=row["name"],
        municipality_number=row["municipality_number"],
        timezone=row["timezone"],
        status=row["status"],
        day_starts=row["day_starts"],
        day_ends=row["day_ends"],
        retention_days=row["retention_days"],
        contact_email=row["contact_email"],
        contact_phone=row["contact_phone"],
    )


def meeting_out(row: Any, counts: dict[str, int], coordinator: bool) -> MeetingOut:
    local_start = row["starts_at"].astimezone(ZoneInfo(row["timezone"]))
    pairs = min(row["capacity_newcomer"], row["capacity_resident"])
    return MeetingOut(
        id=row["id"],
        **meeting_facts(row),
        registration_closes_at=row["registration_closes_at"],
        confirmed=GroupCounts(
            newcomer=counts.get("confirmed:newcomer", 0), resident=counts.get("confirmed:resident", 0)
        ),
        waitlisted=GroupCounts(
            newcomer=counts.get("waitlisted:newcomer", 0), resident=counts.get("waitlisted:resident", 0)
        ),
        agenda=[
            AgendaItemOut(starts=a.starts, ends=a.ends, activity=a.activity, description=a.description)
            for a in domain.agenda(local_start, row["duration_minutes"], pairs)
        ],
        invitation_code=row["invitation_code"] if coordinator else None,
    )
