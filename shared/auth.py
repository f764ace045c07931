"""Bearer tokens: random, stored only as SHA-256 hashes, bound to a role and (for coordinators) a tenant.
The FastAPI dependencies that read them from a request are in ``shared/auth_deps.py``."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from typing import Literal

from fastapi import HTTPException, Request

from shared import tenancy_store
from shared.db import Conn


def new_token() -> str:
    """A new random token: 32 bytes from ``secrets``, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The token as it is stored: its SHA-256, as 64 hex digits."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: the national ``operator`` (every tenant) or a ``coordinator`` of one tenant."""

    role: Literal["operator", "coordinator"]
    tenant_id: uuid.UUID | None = None

    def can_see(self, tenant_id: uuid.UUID) -> bool:
        """Whether the tenant's rows are this principal's to see."""
        return self.role == "operator" or self.tenant_id == tenant_id


def bearer(request: Request) -> str | None:
    """The token of the ``Authorization: Bearer <token>`` header, or None (no header, another scheme, blank)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def unauthorized(detail: str = "Send 'Authorization: Bearer <token>' with a valid token.") -> HTTPException:
    """A 401 with ``WWW-Authenticate: Bearer`` and ``detail``, to raise."""
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


async def resolve(conn: Conn, token: str | None, operator_token: str) -> Principal | None:
    """The principal behind a token, using the ``known_tokens`` table every service keeps: the operator for
    ``operator_token`` (compared in constant time; empty: no operator), a coordinator for an active token of
    an active tenant, else None. Raises what asyncpg raises."""
    if not token:
        return None
    if operator_token and hmac.compare_digest(token.encode(), operator_token.encode()):  # any text, no TypeError
        return Principal("operator")
    tenant_id = await tenancy_store.tenant_of_active_token(conn, hash_token(token))
    return Principal("coordinator", tenant_id) if tenant_id else None
