"""Bearer tokens: random, stored only as SHA-256 hashes, bound to a role and (for coordinators) a tenant."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from typing import Literal

from fastapi import HTTPException, Request

from shared.db import Conn


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    role: Literal["operator", "coordinator"]
    tenant_id: uuid.UUID | None = None

    def can_see(self, tenant_id: uuid.UUID) -> bool:
        return self.role == "operator" or self.tenant_id == tenant_id


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def unauthorized(detail: str = "Send 'Authorization: Bearer <token>' with a valid token.") -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


async def resolve(conn: Conn, token: str | None, operator_token: str) -> Principal | None:
    """The principal behind a token, using the ``known_tokens`` table every service keeps."""
    if not token:
        return None
    if operator_token and hmac.compare_digest(token.encode(), operator_token.encode()):  # any text, no TypeError
        return Principal("operator")
    tenant_id = await conn.fetchval(
        "SELECT t.tenant_id FROM known_tokens t JOIN known_tenants k ON k.tenant_id = t.tenant_id"
        " WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND k.status = 'active'",
        hash_token(token),
    )
    return Principal("coordinator", tenant_id) if tenant_id else None
