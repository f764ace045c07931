"""Request dependencies of the registration API: who is calling (``shared/auth_deps.py`` with registration's
abuse limits on bearer tokens, and a participant's ``X-Manage-Token`` let through for the route to check)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header

from services.registration import guard
from shared.auth import Principal
from shared.auth_deps import bearer_auth
from shared.service import Runtime, current_runtime

RuntimeDep = Annotated[Runtime, Depends(current_runtime)]

auth = bearer_auth(
    before_lookup=guard.check_bearer,
    on_unknown=guard.bearer_failed,
    unknown_detail="The bearer token is unknown, revoked, or its tenant is suspended.",
    tolerated_header="x-manage-token",
    bind_tenant_to_logs=True,
)
optional_principal = auth.optional
any_principal = auth.required
operator = auth.operator

OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]
AnyPrincipal = Annotated[Principal, Depends(any_principal)]
Operator = Annotated[Principal, Depends(operator)]
ManageToken = Annotated[
    str | None, Header(alias="X-Manage-Token", description="The participant's manage token for this registration.")
]
