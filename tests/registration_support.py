"""Registration's API as the integration tests drive it: tenants, meetings, sign-ups (by a coordinator or
public, with the confirmation link read from the outbox), erasure links, and direct SQL on its database;
and the registration service alone, as a process with a fresh database of its own."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx

from deploy.local.platform import PlatformConfig, ServiceProcesses
from shared import db
from tests.factories import meeting_body, person_body


@dataclass
class Tenant:
    slug: str
    id: str
    headers: dict[str, str]
    token_id: str


class RegistrationApi:
    def __init__(self, config: PlatformConfig) -> None:
        self.config = config
        self.base = config.url("registration") + "/v1"
        self.operator = {"Authorization": f"Bearer {config.operator_token}"}
        self.database_url = config.database_url("registration")

    async def tenant(self, http: httpx.AsyncClient) -> Tenant:
        slug = f"t-{uuid.uuid4().hex[:10]}"
        number = f"{uuid.uuid4().int % 10_000:04d}"
        created = await http.post(
            f"{self.base}/tenants",
            headers=self.operator,
            json={"slug": slug, "name": f"Kommune {slug}", "municipality_number": number},
        )
        if created.status_code == 409:  # the random municipality number was taken; try another
            return await self.tenant(http)
        assert created.status_code == 201, created.text
        token = await http.post(f"{self.base}/tenants/{slug}/tokens", headers=self.operator)
        return Tenant(
            slug, created.json()["id"], {"Authorization": f"Bearer {token.json()['token']}"}, token.json()["token_id"]
        )

    async def meeting(self, http: httpx.AsyncClient, tenant: Tenant, publish: bool = True, **overrides: Any) -> str:
        r = await http.post(
            f"{self.base}/tenants/{tenant.slug}/meetings", headers=tenant.headers, json=meeting_body(**overrides)
        )
        assert r.status_code == 201, r.text
        if publish:
            assert (
                await http.post(f"{self.base}/meetings/{r.json()['id']}/publish", headers=tenant.headers)
            ).status_code == 200
        return str(r.json()["id"])

    async def sign_up(
        self,
        http: httpx.AsyncClient,
        tenant: Tenant,
        meeting_id: str,
        group: str,
        i: int,
        domain: str = "example.no",
        **overrides: Any,
    ) -> httpx.Response:
        """A sign-up by the tenant's coordinator (no confirmation step)."""
        return await http.post(
            f"{self.base}/meetings/{meeting_id}/registrations",
            headers=tenant.headers,
            json=person_body(group, i, domain, **overrides),
        )

    async def confirmation_link(self, email: str | None = None, phone: str | None = None) -> tuple[str, str]:
        """(signup_id, token) of the latest confirmation message for this contact, read where notification
        reads it: the contact.signup_requested event in registration's outbox."""
        rows = await self.sql(
            "SELECT body FROM outbox WHERE event_type = 'contact.signup_requested'"
            " AND (body->'data'->>'email' = $1 OR body->'data'->>'phone' = $2) ORDER BY seq DESC LIMIT 1",
            email,
            phone,
        )
        assert rows, f"no confirmation message for {email or phone}"
        data = json.loads(rows[0]["body"])["data"] if isinstance(rows[0]["body"], str) else rows[0]["body"]["data"]
        return data["signup_id"], data["confirm_token"]

    async def confirmation_links(self, emails: list[str]) -> dict[str, tuple[str, str]]:
        """{e-mail: (signup_id, token)} of the confirmation messages to these addresses, in one query."""
        rows = await self.sql(
            "SELECT body::jsonb->'data' AS data FROM outbox WHERE event_type = 'contact.signup_requested'"
            " AND body::jsonb->'data'->>'email' = ANY($1::text[]) ORDER BY seq",
            emails,
        )
        links = {}
        for row in rows:
            data = json.loads(row["data"]) if isinstance(row["data"], str) else row["data"]
            links[data["email"]] = (data["signup_id"], data["confirm_token"])
        return links

    async def erasure_link(self, participant_id: str) -> tuple[str, str]:
        """(request_id, token) of the latest erasure confirmation for this participant (from the outbox)."""
        rows = await self.sql(
            "SELECT body FROM outbox WHERE event_type = 'contact.erasure_requested'"
            " AND body->'data'->>'participant_id' = $1 ORDER BY seq DESC LIMIT 1",
            participant_id,
        )
        assert rows, f"no erasure confirmation for {participant_id}"
        data = json.loads(rows[0]["body"])["data"] if isinstance(rows[0]["body"], str) else rows[0]["body"]["data"]
        return data["request_id"], data["confirm_token"]

    async def public_sign_up(
        self, http: httpx.AsyncClient, meeting_id: str, body: dict[str, Any], confirm: bool = True
    ) -> httpx.Response:
        """A sign-up without a token (202), and, with ``confirm``, the confirmation link used: the answer
        of ``POST /v1/signups/{id}/confirm``."""
        accepted = await http.post(f"{self.base}/meetings/{meeting_id}/registrations", json=body)
        if not confirm or accepted.status_code != 202:
            return accepted
        signup_id, token = await self.confirmation_link(body.get("email"), body.get("phone"))
        return await http.post(f"{self.base}/signups/{signup_id}/confirm", json={"token": token})

    async def sql(self, query: str, *args: Any) -> list[asyncpg.Record]:
        """Direct access to the service's database, as its owner (for arranging time and checking rows)."""
        conn = await asyncpg.connect(self.database_url)
        await db.init_connection(conn)
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()


@contextlib.contextmanager
def registration_service(config: PlatformConfig) -> Iterator[RegistrationApi]:
    """The registration service alone, as a process with its own fresh database, stopped afterwards."""
    processes = ServiceProcesses(config, services=("registration",))
    processes.start()
    try:
        processes.wait_ready()
        yield RegistrationApi(config)
    finally:
        processes.stop()
        asyncio.run(db.drop_database(config.database_url("registration")))
