"""Tenants and coordinator tokens, as learned from fmf.tenants.v1 by services other than registration."""

from __future__ import annotations

import asyncpg

from shared.consumer import EventConsumer
from shared.db import Conn
from shared.events import Envelope, TenantCreated, TenantStatusChanged, TokenIssued, TokenRevoked


def register(consumer: EventConsumer, *, with_contact: bool = False) -> None:
    """Keep the tenants and tokens; ``with_contact`` also the municipality's contact (notification only,
    whose migrations add those columns: the other services need no contact)."""

    @consumer.on("tenant.created", "tenant.updated")
    async def tenant_created(conn: Conn, event: Envelope) -> None:
        t = TenantCreated.model_validate(event.data)
        if not with_contact:
            await conn.execute(
                "INSERT INTO known_tenants (tenant_id, slug, name, municipality_number, timezone)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id) DO UPDATE"
                " SET slug = EXCLUDED.slug, name = EXCLUDED.name, timezone = EXCLUDED.timezone",
                t.tenant_id,
                t.slug,
                t.name,
                t.municipality_number,
                t.timezone,
            )
            return
        await conn.execute(
            "INSERT INTO known_tenants (tenant_id, slug, name, municipality_number, timezone, contact_email,"
            " contact_phone) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant_id) DO UPDATE"
            " SET slug = EXCLUDED.slug, name = EXCLUDED.name, timezone = EXCLUDED.timezone,"
            " contact_email = EXCLUDED.contact_email, contact_phone = EXCLUDED.contact_phone",
            t.tenant_id,
            t.slug,
            t.name,
            t.municipality_number,
            t.timezone,
            t.contact_email,
            t.contact_phone,
        )

    @consumer.on("tenant.suspended", "tenant.reactivated")
    async def tenant_status(conn: Conn, event: Envelope) -> None:
        t = TenantStatusChanged.model_validate(event.data)
        await conn.execute("UPDATE known_tenants SET status = $2 WHERE tenant_id = $1", t.tenant_id, t.status)

    @consumer.on("tenant.token_issued")
    async def token_issued(conn: Conn, event: Envelope) -> None:
        t = TokenIssued.model_validate(event.data)
        await conn.execute(
            "INSERT INTO known_tokens (token_id, tenant_id, token_hash) VALUES ($1, $2, $3)"
            " ON CONFLICT (token_id) DO NOTHING",
            t.token_id,
            t.tenant_id,
            t.token_hash,
        )

    @consumer.on("tenant.token_revoked")
    async def token_revoked(conn: Conn, event: Envelope) -> None:
        t = TokenRevoked.model_validate(event.data)
        await conn.execute("UPDATE known_tokens SET revoked_at = now() WHERE token_id = $1", t.token_id)


async def tenant_by_slug(conn: Conn, slug: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM known_tenants WHERE slug = $1", slug)
