"""The console's sign-in: who a person is (an identity provider), and the session their browser then holds.

The pages see only ``ConsoleSession`` (who is signed in, for which tenant). How a person proves who they are
is an ``IdentityProvider``: today ``TokenSignIn`` (the coordinator's or the operator's bearer token, typed
once into the sign-in form); an OpenID Connect provider (ID-porten, a municipality's Entra ID) is another
implementation of the same two methods, registered under its own name, with no change to the pages.

A session is a random cookie value; only its SHA-256 is stored, with the provider's name and the credential
the session was started with. Every request asks the provider again whether that credential still holds, so
revoking a token or suspending a tenant ends its sessions at once. A session unused for the idle timeout is
gone; signing out deletes it.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import asyncpg

from services.registration import store
from services.registration.usecases.common import now
from services.registration.views import TenantView
from shared import tenancy_store
from shared.auth import Principal, hash_token, new_token
from shared.db import ALL_TENANTS, Conn, tenant_scope, transaction


@dataclass(frozen=True)
class Credential:
    """What a session is started with: the provider's name, the value it checks again on every request (never
    a secret in clear: a token's hash, an OpenID subject), and the principal it stands for now."""

    provider: str
    value: str
    principal: Principal


class IdentityProvider(Protocol):
    """One way to sign in to the console."""

    name: str

    async def verify(self, conn: Conn, value: str) -> Principal | None:
        """The principal a stored credential ``value`` stands for now, or None when it no longer holds
        (revoked, suspended, changed)."""
        ...


class TokenSignIn:
    """Sign-in with a bearer token: the operator's token (``FMF_OPERATOR_TOKEN``) or a coordinator token of
    an active tenant. The stored credential is the token's SHA-256."""

    name = "token"

    def __init__(self, operator_token: str) -> None:
        self._operator_hash = hash_token(operator_token) if operator_token else ""

    async def sign_in(self, conn: Conn, token: str) -> Credential | None:
        """The credential of ``token`` (surrounding blanks ignored), or None when it is unknown, revoked or its
        tenant is suspended."""
        token = token.strip()
        if not token or len(token) > 256:
            return None
        value = hash_token(token)
        principal = await self.verify(conn, value)
        return Credential(self.name, value, principal) if principal is not None else None

    async def verify(self, conn: Conn, value: str) -> Principal | None:
        """The operator for the operator token's hash (compared in constant time), a coordinator for an active
        token of an active tenant, else None."""
        if self._operator_hash and hmac.compare_digest(value.encode(), self._operator_hash.encode()):
            return Principal("operator")
        tenant_id = await tenancy_store.tenant_of_active_token(conn, value)
        return Principal("coordinator", tenant_id) if tenant_id else None


@dataclass(frozen=True)
class ConsoleSession:
    """A signed-in browser: who (``principal``), for a coordinator their tenant, and the credential the
    session was started with (``provider``, ``credential``: for ``TokenSignIn`` the token's SHA-256), which
    a hand-off to reporting carries so that reporting can check it still holds."""

    principal: Principal
    tenant: TenantView | None
    provider: str = ""
    credential: str = ""

    @property
    def is_operator(self) -> bool:
        return self.principal.role == "operator"


def _hash(value: str) -> str:
    return hash_token(value)


async def start(pool: asyncpg.Pool, credential: Credential) -> str:
    """A new session for ``credential``; returns the cookie value (random, 43 characters), of which only the
    hash is kept."""
    cookie = new_token()
    async with transaction(pool) as conn:
        p = credential.principal
        await store.insert_session(conn, _hash(cookie), credential.provider, credential.value, p.role, p.tenant_id)
    return cookie


async def resume(
    pool: asyncpg.Pool, providers: dict[str, IdentityProvider], cookie: str | None, idle_timeout_s: float
) -> ConsoleSession | None:
    """The session of a cookie, seen now (its idle clock starts again), or None: no or an unknown cookie, a
    session idle for more than ``idle_timeout_s`` seconds, or a credential that no longer holds (the session
    is then deleted)."""
    if not cookie or len(cookie) > 128:
        return None
    id_hash = _hash(cookie)
    async with transaction(pool, tenant_scope(ALL_TENANTS)) as conn:
        row = await store.touch_session(conn, id_hash, now() - timedelta(seconds=idle_timeout_s))
        if row is None:
            return None
        provider = providers.get(row["provider"])
        principal = await provider.verify(conn, row["credential"]) if provider is not None else None
        if principal is None or principal.role != row["role"] or principal.tenant_id != row["tenant_id"]:
            await store.delete_session(conn, id_hash)
            return None
        tenant = None
        if principal.tenant_id is not None:
            tenant_row = await store.tenant_by_id(conn, principal.tenant_id)
            tenant = TenantView.of(tenant_row) if tenant_row is not None else None
        return ConsoleSession(principal, tenant, row["provider"], row["credential"])


async def end(pool: asyncpg.Pool, cookie: str | None) -> None:
    """Sign out: the session of ``cookie`` is deleted (nothing when there is none)."""
    if not cookie or len(cookie) > 128:
        return
    async with transaction(pool) as conn:
        await store.delete_session(conn, _hash(cookie))


async def end_idle(pool: asyncpg.Pool, idle_timeout_s: float) -> int:
    """Delete the sessions idle for more than ``idle_timeout_s`` seconds, and the expired sign-in links; how
    many sessions."""
    at = now()
    async with transaction(pool) as conn:
        return await store.delete_idle_sessions(conn, at - timedelta(seconds=idle_timeout_s), at)


@dataclass(frozen=True)
class SignInLink:
    """A one-time sign-in link's parts: ``/console/sign-in/link/{link_id}?code={code}``."""

    link_id: uuid.UUID
    code: str

    @property
    def path(self) -> str:
        return f"/console/sign-in/link/{self.link_id}?code={self.code}"


async def issue_sign_in_link(pool: asyncpg.Pool, credential: Credential, valid_for_s: float) -> SignInLink:
    """A link that signs its first user in as ``credential``'s principal, valid for ``valid_for_s`` seconds."""
    link = SignInLink(uuid.uuid4(), secrets.token_urlsafe(24))
    async with transaction(pool) as conn:
        await store.insert_sign_in_link(
            conn,
            link.link_id,
            _hash(link.code),
            credential.provider,
            credential.value,
            credential.principal.role,
            credential.principal.tenant_id,
            now() + timedelta(seconds=valid_for_s),
        )
    return link


async def use_sign_in_link(
    pool: asyncpg.Pool, providers: dict[str, IdentityProvider], link_id: uuid.UUID, code: str
) -> Credential | None:
    """The credential of a one-time link, which is used up now; None for a wrong, used or expired link, or a
    credential that no longer holds."""
    if not code or len(code) > 128:
        return None
    async with transaction(pool, tenant_scope(ALL_TENANTS)) as conn:
        row = await store.take_sign_in_link(conn, link_id, _hash(code), now())
        if row is None:
            return None
        provider = providers.get(row["provider"])
        principal = await provider.verify(conn, row["credential"]) if provider is not None else None
        if principal is None:
            return None
        return Credential(row["provider"], row["credential"], principal)


async def sign_in_link_for_token(
    pool: asyncpg.Pool, operator_token: str, token: str, valid_for_s: float
) -> tuple[SignInLink | None, datetime]:
    """A one-time sign-in link for the holder of ``token`` (the operator's, ``operator_token``, or an active
    coordinator token), valid for ``valid_for_s`` seconds, and the time it expires (aware, UTC; a moment
    before the stored one, never after); the link is None when the token is not (or no longer) valid."""
    expires_at = now() + timedelta(seconds=valid_for_s)
    async with pool.acquire() as conn:
        credential = await TokenSignIn(operator_token).sign_in(conn, token)
    if credential is None:
        return None, expires_at
    return await issue_sign_in_link(pool, credential, valid_for_s), expires_at
