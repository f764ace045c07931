"""Signed hand-offs between services for a signed-in person: registration's console sends a coordinator or
the operator to reporting's dashboards without a second sign-in. Pure: no I/O, the clock is an argument.

A grant says who (role, tenant id and slug), the page's language, what it is for (``kind``: ``access``, the
one-time token in the address, valid ``ACCESS_TTL_S``; or ``cookie``, reporting's own session cookie, valid
``COOKIE_TTL_S``), when it expires (Unix seconds) and a random ``nonce`` (so that an access token can be used
once). Its text form is itsdangerous' URL-safe signed JSON (``<payload>.<signature>``, HMAC-SHA256 with a key
derived per purpose), keyed with a secret derived from the operator token both services have:
``HMAC-SHA256(operator_token, "fmf-console-handoff")`` (``key_of``), so that the operator token itself never
signs anything a browser holds.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import asdict, dataclass
from typing import Literal

from itsdangerous import BadSignature, URLSafeSerializer

PURPOSE = b"fmf-console-handoff"
ACCESS_TTL_S = 60
COOKIE_TTL_S = 3600
# Reporting's cookie for the dashboards (its name and path), which the console's sign-out also clears where
# both services share a host name (make up).
COOKIE = "fmf_report"
COOKIE_PATH = "/v1"
MAX_LENGTH = 1024  # a longer text is not one of ours
Kind = Literal["access", "cookie"]
Role = Literal["operator", "coordinator"]


class HandoffRefused(ValueError):
    """A hand-off text that is not to be trusted: malformed, tampered with, expired, or of the wrong kind."""


@dataclass(frozen=True)
class Grant:
    """Who the bearer of a hand-off is: ``role``; a coordinator's ``tenant_id`` and ``tenant_slug`` (None for
    the operator); the page's ``language`` (nb, nn, en); ``kind``; ``expires`` (Unix seconds); ``nonce``;
    ``credential``: the SHA-256 hex of the access key the console session was started with (the operator
    token or a coordinator token), which reporting checks on every use, so that a revoked key or a suspended
    tenant ends the dashboards' sign-in at once; empty when the session did not start from a key."""

    role: Role
    tenant_id: str | None
    tenant_slug: str | None
    language: str
    kind: Kind
    expires: int
    nonce: str
    credential: str = ""

    def may_see_tenant(self, tenant_id: uuid.UUID | str) -> bool:
        """Whether the tenant's dashboard is this grant's to see: the operator every one, a coordinator their own."""
        return self.role == "operator" or (self.tenant_id is not None and self.tenant_id == str(tenant_id))

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"


def key_of(operator_token: str) -> bytes:
    """The signing key: HMAC-SHA256 of ``PURPOSE`` keyed with the operator token (32 bytes). Raises
    ``ValueError`` for an empty operator token (nothing could be trusted)."""
    if not operator_token:
        raise ValueError("no operator token: hand-offs cannot be signed")
    return hmac.new(operator_token.encode(), PURPOSE, hashlib.sha256).digest()


def grant(
    role: Role,
    tenant_id: uuid.UUID | str | None,
    tenant_slug: str | None,
    language: str,
    kind: Kind,
    now: float,
    ttl_s: int | None = None,
    credential: str = "",
) -> Grant:
    """A new grant expiring ``ttl_s`` seconds after ``now`` (Unix seconds; default: the kind's lifetime),
    with a fresh nonce."""
    ttl = ttl_s if ttl_s is not None else (ACCESS_TTL_S if kind == "access" else COOKIE_TTL_S)
    return Grant(
        role=role,
        tenant_id=str(tenant_id) if tenant_id is not None else None,
        tenant_slug=tenant_slug,
        language=language,
        kind=kind,
        expires=int(now) + ttl,
        nonce=secrets.token_urlsafe(12),
        credential=credential,
    )


def _serializer(key: bytes) -> URLSafeSerializer:
    return URLSafeSerializer(key, salt=PURPOSE, signer_kwargs={"digest_method": hashlib.sha256})


def sign(key: bytes, value: Grant) -> str:
    """The grant's text form (itsdangerous' URL-safe ``<payload>.<signature>``)."""
    return str(_serializer(key).dumps(asdict(value)))


def verify(key: bytes, text: str | None, kind: Kind, now: float) -> Grant:
    """The grant of a hand-off text, checked: the signature (compared in constant time), the ``kind``, the
    expiry (still valid while ``now`` < ``expires``), the role (operator, or a coordinator with a tenant).
    Raises ``HandoffRefused`` saying which check failed."""
    if not text or len(text) > MAX_LENGTH:
        raise HandoffRefused("not a hand-off")
    try:
        fields = _serializer(key).loads(text)
    except BadSignature as exc:
        raise HandoffRefused("the signature does not match") from exc
    try:
        value = Grant(**fields)
    except TypeError as exc:
        raise HandoffRefused("not a hand-off") from exc
    if value.kind != kind:
        raise HandoffRefused(f"a {value.kind} hand-off where a {kind} one was expected")
    if not isinstance(value.expires, int) or now >= value.expires:
        raise HandoffRefused("expired")
    if value.role not in ("operator", "coordinator") or (value.role == "coordinator" and not value.tenant_id):
        raise HandoffRefused("no such role")
    return value
