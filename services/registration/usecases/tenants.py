"""The operator's use cases: tenants and coordinator tokens."""

from __future__ import annotations

import uuid

import asyncpg

from services.registration import domain, store
from services.registration.schemas import TenantIn, TenantSettingsIn
from services.registration.usecases.common import SOURCE, refuse, scoped
from services.registration.usecases.sessions import Credential, SignInLink, TokenSignIn, issue_sign_in_link
from services.registration.views import AccessKey, IssuedToken, TenantActivity, TenantView
from shared import outbox
from shared.auth import Principal, hash_token, new_token
from shared.db import ALL_TENANTS, Conn
from shared.errors import Conflict, NotFound
from shared.events import TenantCreated, TenantStatusChanged, TokenIssued, TokenRevoked, make_event


def _created(row: asyncpg.Record) -> TenantCreated:
    return TenantCreated(
        tenant_id=row["id"],
        slug=row["slug"],
        name=row["name"],
        municipality_number=row["municipality_number"],
        timezone=row["timezone"],
        contact_email=row["contact_email"],
        contact_phone=row["contact_phone"],
    )


async def _tenant(conn: Conn, slug: str, *, lock: bool = False) -> asyncpg.Record:
    tenant = await store.tenant_by_slug(conn, slug, lock=lock)
    if tenant is None:
        raise NotFound(f"no tenant '{slug}'")
    return tenant


class TenantTaken(Conflict):
    """A new tenant's slug or municipality number belongs to another tenant already (409); ``slug`` and
    ``number`` say which."""

    def __init__(self, body: TenantIn, *, slug: bool, number: bool) -> None:
        taken = [f"slug '{body.slug}'"] * slug + [f"municipality number {body.municipality_number}"] * number
        super().__init__(f"a tenant with {' and '.join(taken) or 'these details'} exists already")
        self.slug = slug
        self.number = number


async def create_tenant(pool: asyncpg.Pool, body: TenantIn, settings: TenantSettingsIn | None = None) -> TenantView:
    """A new tenant (``tenant.created``), with ``settings`` (e.g. its contact) set from the start when given.
    Raises TenantTaken (a Conflict) when its slug or municipality number is taken, Conflict for a daytime
    window in ``settings`` that ends before it starts."""
    async with scoped(pool, ALL_TENANTS) as conn:
        row = await store.insert_tenant(conn, uuid.uuid4(), body.slug, body.name, body.municipality_number)
        if row is None:
            slug, number = await store.tenant_taken(conn, body.slug, body.municipality_number)
            raise TenantTaken(body, slug=slug, number=number)
        changes = settings.model_dump(exclude_unset=True) if settings is not None else {}
        if changes:
            starts, ends = changes.get("day_starts", row["day_starts"]), changes.get("day_ends", row["day_ends"])
            refuse(domain.day_window_problem(starts, ends))
            row = await store.update_tenant(conn, row["id"], changes)
        await store.upsert_known_tenant(conn, row)
        await outbox.enqueue(conn, SOURCE, [(make_event("tenant.created", row["id"], _created(row)), row["id"])])
        return TenantView.of(row)


async def list_tenants(pool: asyncpg.Pool) -> list[TenantView]:
    """Every tenant, by slug."""
    async with scoped(pool, ALL_TENANTS) as conn:
        return [TenantView.of(r) for r in await store.tenants(conn)]


async def get_tenant(pool: asyncpg.Pool, slug: str) -> TenantView:
    """The tenant with ``slug``. Raises NotFound."""
    async with scoped(pool, ALL_TENANTS) as conn:
        return TenantView.of(await _tenant(conn, slug))


async def update_settings(pool: asyncpg.Pool, slug: str, body: TenantSettingsIn) -> TenantView:
    """Change the tenant's settings (name, time zone, daytime window, retention days, contact ...);
    ``tenant.updated`` tells the other services. Raises NotFound, Conflict (a daytime window that ends
    before it starts: domain.day_window_problem)."""
    async with scoped(pool, ALL_TENANTS) as conn:
        tenant = await _tenant(conn, slug, lock=True)
        changes = body.model_dump(exclude_unset=True)
        starts, ends = changes.get("day_starts", tenant["day_starts"]), changes.get("day_ends", tenant["day_ends"])
        refuse(domain.day_window_problem(starts, ends))
        row = await store.update_tenant(conn, tenant["id"], changes)
        await store.upsert_known_tenant(conn, row)
        # The other services learn the new name, time zone and contact (messages name them).
        await outbox.enqueue(conn, SOURCE, [(make_event("tenant.updated", row["id"], _created(row)), row["id"])])
        return TenantView.of(row)


async def set_status(pool: asyncpg.Pool, slug: str, status: str) -> TenantView:
    """Suspend (``suspended``) or reactivate (``active``) the tenant; setting its status again changes
    nothing. Raises NotFound."""
    async with scoped(pool, ALL_TENANTS) as conn:
        tenant = await _tenant(conn, slug, lock=True)
        if tenant["status"] == status:
            return TenantView.of(tenant)
        row = await store.update_tenant(conn, tenant["id"], {"status": status})
        await store.upsert_known_tenant(conn, row)
        event_type = "tenant.suspended" if status == "suspended" else "tenant.reactivated"
        data = TenantStatusChanged(tenant_id=row["id"], status=status)
        await outbox.enqueue(conn, SOURCE, [(make_event(event_type, row["id"], data), row["id"])])
        return TenantView.of(row)


async def issue_token(pool: asyncpg.Pool, slug: str) -> IssuedToken:
    """A new coordinator token for the tenant (shown once; only its hash is kept). Raises NotFound."""
    async with scoped(pool, ALL_TENANTS) as conn:
        tenant = await _tenant(conn, slug)
        token, token_id = new_token(), uuid.uuid4()
        await store.insert_token(conn, token_id, tenant["id"], hash_token(token))
        data = TokenIssued(token_id=token_id, tenant_id=tenant["id"], token_hash=hash_token(token))
        await outbox.enqueue(conn, SOURCE, [(make_event("tenant.token_issued", tenant["id"], data), tenant["id"])])
        return IssuedToken(token_id, token)


async def revoke_token(pool: asyncpg.Pool, slug: str, token_id: uuid.UUID) -> None:
    """Revoke one of the tenant's active coordinator tokens. Raises NotFound (no such tenant or active
    token)."""
    async with scoped(pool, ALL_TENANTS) as conn:
        tenant = await _tenant(conn, slug)
        if not await store.revoke_token(conn, tenant["id"], token_id):
            raise NotFound(f"no active token {token_id} for tenant '{slug}'")
        data = TokenRevoked(token_id=token_id, tenant_id=tenant["id"])
        await outbox.enqueue(conn, SOURCE, [(make_event("tenant.token_revoked", tenant["id"], data), tenant["id"])])


async def tenants_with_activity(pool: asyncpg.Pool) -> list[TenantActivity]:
    """Every tenant with its number of meetings and last activity, by name (the operator's list)."""
    async with scoped(pool, ALL_TENANTS) as conn:
        return [TenantActivity.of(r) for r in await store.tenants_with_activity(conn)]


async def tenant_overview(pool: asyncpg.Pool, slug: str) -> tuple[TenantActivity, list[AccessKey]]:
    """The tenant with its activity, and its coordinator tokens (active first, newest first; never the tokens
    themselves). Raises NotFound."""
    async with scoped(pool, ALL_TENANTS) as conn:
        tenant = await _tenant(conn, slug)
        [row] = await store.tenants_with_activity(conn, tenant["id"])
        keys = [AccessKey.of(r) for r in await store.tokens_of_tenant(conn, tenant["id"])]
        return TenantActivity.of(row), keys


async def issue_token_with_link(pool: asyncpg.Pool, slug: str, valid_for_s: float) -> tuple[IssuedToken, SignInLink]:
    """A new coordinator token for the tenant (``issue_token``) and a one-time sign-in link that signs its
    first user in with it, valid for ``valid_for_s`` seconds; both are shown once. Raises NotFound."""
    issued = await issue_token(pool, slug)
    tenant = await get_tenant(pool, slug)
    credential = Credential(TokenSignIn.name, hash_token(issued.token), Principal("coordinator", tenant.id))
    return issued, await issue_sign_in_link(pool, credential, valid_for_s)
