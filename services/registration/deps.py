"""Request dependencies of the registration API: who is calling."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from services.registration import guard
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
        principal = await resolve(conn, token, runtime.settings.operator_token.get_secret_value())
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
