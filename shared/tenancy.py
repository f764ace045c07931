"""Tenants and coordinator tokens, as learned from fmf.tenants.v1 by services other than registration.

A service adds ``HANDLERS`` to its own handler table; notification, whose migrations add the contact
columns and whose messages name the municipality's contact, adds ``HANDLERS_WITH_CONTACT`` instead.
"""

from __future__ import annotations

import asyncpg

from shared import tenancy_store
from shared.consumer import Handlers, route
from shared.db import Conn
from shared.events import Envelope, TenantCreated, TenantStatusChanged, TokenIssued, TokenRevoked


async def tenant_created(conn: Conn, event: Envelope, t: TenantCreated) -> None:
    """tenant.created | tenant.updated: keep the tenant as it is now (without its contact)."""
    await tenancy_store.upsert_tenant(conn, t.tenant_id, t.slug, t.name, t.municipality_number, t.timezone)


async def tenant_created_with_contact(conn: Conn, event: Envelope, t: TenantCreated) -> None:
    """tenant.created | tenant.updated: keep the tenant as it is now, with the municipality's contact."""
    await tenancy_store.upsert_tenant_with_contact(
        conn, t.tenant_id, t.slug, t.name, t.municipality_number, t.timezone, t.contact_email, t.contact_phone
    )


async def tenant_status(conn: Conn, event: Envelope, t: TenantStatusChanged) -> None:
    """tenant.suspended | tenant.reactivated."""
    await tenancy_store.set_tenant_status(conn, t.tenant_id, t.status)


async def token_issued(conn: Conn, event: Envelope, t: TokenIssued) -> None:
    """tenant.token_issued: keep the coordinator token's hash, so this service can authenticate it."""
    await tenancy_store.insert_token(conn, t.token_id, t.tenant_id, t.token_hash)


async def token_revoked(conn: Conn, event: Envelope, t: TokenRevoked) -> None:
    """tenant.token_revoked."""
    await tenancy_store.revoke_token(conn, t.token_id)


TENANT_EVENTS = ("tenant.created", "tenant.updated")
_TOKENS_AND_STATUS = Handlers(
    route(("tenant.suspended", "tenant.reactivated"), TenantStatusChanged, tenant_status),
    route("tenant.token_issued", TokenIssued, token_issued),
    route("tenant.token_revoked", TokenRevoked, token_revoked),
)
HANDLERS = Handlers(route(TENANT_EVENTS, TenantCreated, tenant_created), _TOKENS_AND_STATUS)
HANDLERS_WITH_CONTACT = Handlers(route(TENANT_EVENTS, TenantCreated, tenant_created_with_contact), _TOKENS_AND_STATUS)


async def tenant_by_slug(conn: Conn, slug: str) -> asyncpg.Record | None:
    """The ``known_tenants`` row of the tenant with this slug (every column), or None."""
    return await tenancy_store.tenant_by_slug(conn, slug)
