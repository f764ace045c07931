"""All SQL of the tenants and coordinator tokens that services other than registration learn from
fmf.tenants.v1 (tables ``known_tenants`` and ``known_tokens``, which each such service migrates)."""

from __future__ import annotations

import uuid

import asyncpg

from shared.db import Conn


async def upsert_tenant(
    conn: Conn, tenant_id: uuid.UUID, slug: str, name: str, municipality_number: str, timezone: str
) -> None:
    """Insert the tenant, or bring its slug, name and timezone (an IANA name) up to date."""
    await conn.execute(
        "INSERT INTO known_tenants (tenant_id, slug, name, municipality_number, timezone)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id) DO UPDATE"
        " SET slug = EXCLUDED.slug, name = EXCLUDED.name, timezone = EXCLUDED.timezone",
        tenant_id,
        slug,
        name,
        municipality_number,
        timezone,
    )


async def upsert_tenant_with_contact(
    conn: Conn,
    tenant_id: uuid.UUID,
    slug: str,
    name: str,
    municipality_number: str,
    timezone: str,
    contact_email: str | None,
    contact_phone: str | None,
) -> None:
    """As ``upsert_tenant``, and the municipality's contact as well (None clears it). Only for a service
    whose ``known_tenants`` has the ``contact_email`` and ``contact_phone`` columns (notification)."""
    await conn.execute(
        "INSERT INTO known_tenants (tenant_id, slug, name, municipality_number, timezone, contact_email,"
        " contact_phone) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant_id) DO UPDATE"
        " SET slug = EXCLUDED.slug, name = EXCLUDED.name, timezone = EXCLUDED.timezone,"
        " contact_email = EXCLUDED.contact_email, contact_phone = EXCLUDED.contact_phone",
        tenant_id,
        slug,
        name,
        municipality_number,
        timezone,
        contact_email,
        contact_phone,
    )


async def set_tenant_status(conn: Conn, tenant_id: uuid.UUID, status: str) -> None:
    """Set the tenant's status (``active`` | ``suspended``); a tenant not known yet is left unknown."""
    await conn.execute("UPDATE known_tenants SET status = $2 WHERE tenant_id = $1", tenant_id, status)


async def insert_token(conn: Conn, token_id: uuid.UUID, tenant_id: uuid.UUID, token_hash: str) -> None:
    """Keep a coordinator token as its hash (hex SHA-256); a token kept already stays as it is."""
    await conn.execute(
        "INSERT INTO known_tokens (token_id, tenant_id, token_hash) VALUES ($1, $2, $3)"
        " ON CONFLICT (token_id) DO NOTHING",
        token_id,
        tenant_id,
        token_hash,
    )


async def revoke_token(conn: Conn, token_id: uuid.UUID) -> None:
    """Mark the token revoked now; an unknown token id changes nothing."""
    await conn.execute("UPDATE known_tokens SET revoked_at = now() WHERE token_id = $1", token_id)


async def tenant_by_slug(conn: Conn, slug: str) -> asyncpg.Record | None:
    """The ``known_tenants`` row of the tenant with this slug (every column), or None."""
    return await conn.fetchrow("SELECT * FROM known_tenants WHERE slug = $1", slug)


async def tenant_of_active_token(conn: Conn, token_hash: str) -> uuid.UUID | None:
    """The tenant of the coordinator token with this SHA-256 hex hash, if the token is not revoked and its
    tenant is active; else None. Registration keeps the same two tables under the same names."""
    tenant_id: uuid.UUID | None = await conn.fetchval(
        "SELECT t.tenant_id FROM known_tokens t JOIN known_tenants k ON k.tenant_id = t.tenant_id"
        " WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND k.status = 'active'",
        token_hash,
    )
    return tenant_id
