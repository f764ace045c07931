"""HTTP routes of the reporting service."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from services.reporting import store
from shared import tenancy
from shared.auth import Principal, bearer, resolve, unauthorized
from shared.errors import NotFound
from shared.service import Runtime, runtime_of

router = APIRouter(prefix="/v1")
RuntimeDep = Annotated[Runtime, Depends(runtime_of)]


async def principal(request: Request) -> Principal:
    runtime = runtime_of(request)
    async with runtime.db.acquire() as conn:
        found = await resolve(conn, bearer(request), runtime.settings.operator_token)
    if found is None:
        raise unauthorized()
    return found


@router.get("/tenants/{slug}/summary", tags=["coordinator"])
async def tenant_summary(
    slug: str, runtime: RuntimeDep, who: Annotated[Principal, Depends(principal)]
) -> dict[str, Any]:
    """Counts per meeting: confirmed and waitlisted by group, cancellations, promotions, pairs."""
    async with runtime.db.acquire() as conn:
        tenant = await tenancy.tenant_by_slug(conn, slug)
        if tenant is None or not who.can_see(tenant["tenant_id"]):
            raise NotFound(f"no tenant '{slug}'")
        rows = await store.tenant_summary(conn, tenant["tenant_id"])
    meetings = [
        {
            "meeting_id": str(r["meeting_id"]),
            "format": r["format"],
            "status": r["status"],
            "starts_at": r["starts_at"].isoformat(),
            "confirmed": {"newcomer": r["confirmed_newcomer"], "resident": r["confirmed_resident"]},
            "waitlisted": {"newcomer": r["waitlisted_newcomer"], "resident": r["waitlisted_resident"]},
            "cancelled": r["cancelled"],
            "promoted": r["promoted"],
            "pairs": r["pairs"],
            "trios": r["trios"],
        }
        for r in rows
    ]
    return {"tenant": slug, "meetings": meetings}
