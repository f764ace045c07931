"""Who is calling, as FastAPI dependencies, for every service people sign in to (registration, reporting).

``BearerAuth`` turns the ``Authorization: Bearer <token>`` header into a ``Principal`` (``shared/auth.py``:
the operator token of the service's settings, or a coordinator token in ``known_tokens``) and gives three
dependencies:

- ``optional``: the principal, or None without a bearer token; an unknown, revoked or suspended tenant's
  token is a 401 (``WWW-Authenticate: Bearer``), unless the request carries ``tolerated_header`` (registration:
  ``X-Manage-Token``, a participant's own token, which the route then checks);
- ``required``: the principal; none is a 401;
- ``operator``: the national operator; anyone else is told 404, so that the route's existence is not revealed.

A service plugs in its abuse limits through two hooks: ``before_lookup`` runs before a token is looked up
(it may refuse with 429), ``on_unknown`` after a token was not found (it counts the failure).
"""

# No ``from __future__ import annotations`` here: FastAPI reads the dependencies' ``Annotated`` parameters at
# run time, and they name functions local to ``bearer_auth``.
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from shared import logs
from shared.auth import Principal, bearer, resolve, unauthorized
from shared.errors import NotFound
from shared.service import runtime_of

Hook = Callable[[Request], Awaitable[None]]


@dataclass(frozen=True)
class AuthDependencies:
    """The three dependency functions one ``bearer_auth`` call made (see the module's docstring)."""

    optional: Callable[..., Awaitable[Principal | None]]
    required: Callable[..., Awaitable[Principal]]
    operator: Callable[..., Awaitable[Principal]]


async def _noop(request: Request) -> None:
    return None


def bearer_auth(
    *,
    before_lookup: Hook = _noop,
    on_unknown: Hook = _noop,
    unknown_detail: str | None = None,
    tolerated_header: str | None = None,
    bind_tenant_to_logs: bool = False,
) -> AuthDependencies:
    """The auth dependencies of one service.

    ``before_lookup`` / ``on_unknown``: hooks around the token look-up (abuse limits; they may raise
    ``TooManyRequests``). ``unknown_detail``: the 401's detail for a token that is not (or no longer)
    valid (default: the general one of ``shared.auth.unauthorized``).
    ``tolerated_header``: a header (case-insensitive) with which an unknown bearer token counts as none.
    ``bind_tenant_to_logs``: add a coordinator's ``tenant_id`` to the request's log lines.
    Raises (from the dependencies) ``HTTPException`` 401 with ``WWW-Authenticate: Bearer``, ``NotFound``
    (404) for a non-operator on an operator route, what the hooks raise, and, when the database cannot be
    reached to look a token up, its error (``shared.db.is_connection_error``; answered 503 with Retry-After).
    """

    async def optional(request: Request) -> Principal | None:
        token = bearer(request)
        if token is None:
            return None
        runtime = runtime_of(request)
        await before_lookup(request)
        # A database that cannot be reached raises here (shared/db.py's timeouts), answered 503 by shared/http.py.
        async with runtime.db.acquire() as conn:
            principal = await resolve(conn, token, runtime.settings.operator_token.get_secret_value())
        if principal is None:
            await on_unknown(request)
            if tolerated_header is None or request.headers.get(tolerated_header) is None:
                raise unauthorized(unknown_detail) if unknown_detail else unauthorized()
        if bind_tenant_to_logs and principal is not None and principal.tenant_id is not None:
            logs.bind(tenant_id=str(principal.tenant_id))
        return principal

    async def required(principal: Annotated[Principal | None, Depends(optional)]) -> Principal:
        if principal is None:
            raise unauthorized()
        return principal

    async def operator(principal: Annotated[Principal, Depends(required)]) -> Principal:
        if principal.role != "operator":
            raise NotFound("no such resource")
        return principal

    return AuthDependencies(optional, required, operator)
