"""Two replicas of matching and of notification share the work of 20 meetings; one of each is killed
with SIGKILL half-way, the other takes over its partitions, and every effect still happens once."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from deploy.local.embedded import free_ports
from deploy.local.platform import SERVICES, PlatformConfig, ServiceProcesses
from services.notification.settings import NotificationSettings
from shared import db
from tests.conftest import platform_config, private_dir
from tests.factories import meeting_body, person_body
from tests.support import RecordingSmtpHandler, eventually, wait_until_quiet

pytestmark = pytest.mark.asyncio(loop_scope="session")
MEETINGS = 20
SCALED = ("matching", "notification")
SENDER_WORKERS = NotificationSettings.model_fields["sender_workers"].default
SENDER_BATCH = NotificationSettings.model_fields["sender_batch_size"].default


@pytest.fixture(scope="module")
def two_replicas(
    postgres_dsn: str, kafka_bootstrap: str, smtp: tuple[int, RecordingSmtpHandler]
) -> Iterator[tuple[PlatformConfig, PlatformConfig, ServiceProcesses, ServiceProcesses]]:
    folder = private_dir("scale-out")
    first = platform_config(postgres_dsn, kafka_bootstrap, smtp[0], Path(folder / "a"))
    second = dataclasses.replace(
        first,
        ports=dict(
            zip(SERVICES, [p for p in free_ports(2 * len(SERVICES)) if p not in first.ports.values()], strict=False)
        ),
        log_dir=Path(folder / "b"),
    )
    everything = ServiceProcesses(first)
    replicas = ServiceProcesses(second, services=SCALED)
    everything.start()
    replicas.start()
    try:
        everything.wait_ready()
        replicas.wait_ready()
        yield first, second, everything, replicas
    finally:
        replicas.stop()
        everything.stop()
        for name in SERVICES:
            asyncio.run(db.drop_database(first.database_url(name)))


def received(metrics_text: str) -> float:
    return sum(
        float(line.split()[-1])
        for line in metrics_text.splitlines()
        if line.startswith("faststream_received_messages_total{")
    )


async def test_replicas_share_the_work_and_survive_a_sigkill(
    two_replicas: tuple[PlatformConfig, PlatformConfig, ServiceProcesses, ServiceProcesses],
    smtp: tuple[int, RecordingSmtpHandler],
) -> None:
    first, second, everything, replicas = two_replicas
    api = first.url("registration") + "/v1"
    operator = {"Authorization": f"Bearer {first.operator_token}"}
    slug = f"scale-{uuid.uuid4().hex[:6]}"
    domain = f"{slug}.example.no"
    async with httpx.AsyncClient(timeout=30) as http:
        await http.post(
            f"{api}/tenants",
            headers=operator,
            json={"slug": slug, "name": "Skalakommune", "municipality_number": f"{uuid.uuid4().int % 9000 + 1000}"},
        )
        token = (await http.post(f"{api}/tenants/{slug}/tokens", headers=operator)).json()["token"]
        coordinator = {"Authorization": f"Bearer {token}"}

        async def run_meeting(m: int) -> str:
            meeting = (
                await http.post(f"{api}/tenants/{slug}/meetings", headers=coordinator, json=meeting_body())
            ).json()
            await http.post(f"{api}/meetings/{meeting['id']}/publish", headers=coordinator)
            for i in range(10):
                for group in ("newcomer", "resident"):
                    r = await http.post(
                        f"{api}/meetings/{meeting['id']}/registrations",
                        headers=coordinator,
                        json=person_body(group, m * 100 + i, domain),
                    )
                    assert r.status_code == 201, r.text
            await http.post(f"{api}/meetings/{meeting['id']}/close", headers=coordinator)
            return str(meeting["id"])

        half = await asyncio.gather(*(run_meeting(m) for m in range(MEETINGS // 2)))
        # Both replicas of each service received work before the kill.
        for name in SCALED:
            for config in (first, second):
                text = (await http.get(config.url(name) + "/metrics")).text
                assert received(text) > 0, f"{name} at {config.url(name)} received nothing"
        for name in SCALED:  # mid-stream: the first replicas die without a chance to clean up
            os.kill(everything.procs[name].pid, signal.SIGKILL)
        rest = await asyncio.gather(*(run_meeting(m) for m in range(MEETINGS // 2, MEETINGS)))

        _, mailbox = smtp
        await eventually(lambda: _enough(mailbox.to_domain(domain), MEETINGS * 20), timeout_s=120, every_s=0.5)
        # Every outbox drained, every consumer group (the survivors') at the end of its topics, nothing due
        # that is not sent: a message doubled by the takeover would have arrived by now.
        await wait_until_quiet(first, timeout_s=120)
        mails = mailbox.to_domain(domain)
        per_recipient = Counter(addr for m in mails for addr in m.to)
        assert len(per_recipient) == MEETINGS * 20
        # Each person got exactly one message (one Message-ID). A SIGKILL between the SMTP server's
        # accept and the sender's commit can send that same message again; at most what the killed
        # replica's sender workers had claimed (a batch each) can be caught that way.
        messages = {(addr, m.message["Message-ID"]) for m in mails for addr in m.to}
        assert Counter(addr for addr, _ in messages) == Counter(dict.fromkeys(per_recipient, 1))
        resent = len(mails) - len(messages)
        print(f"\nmails {len(mails)}, distinct messages {len(messages)}, sent again after the SIGKILL: {resent}")
        assert resent <= SENDER_WORKERS * SENDER_BATCH

        conn = await asyncpg.connect(first.database_url("matching"))
        try:

            async def proposed() -> bool:
                n = await conn.fetchval(
                    "SELECT count(*) FROM proposals WHERE meeting_id = ANY($1::uuid[])",
                    [uuid.UUID(m) for m in half + rest],
                )
                return n == MEETINGS

            await eventually(proposed, timeout_s=60)
            duplicates = await conn.fetchval(
                "SELECT count(*) FROM (SELECT meeting_id FROM proposals GROUP BY 1 HAVING count(*) > 1) d"
            )
            assert duplicates == 0
        finally:
            await conn.close()
        for name in SCALED:
            assert everything.procs[name].poll() == -signal.SIGKILL
            assert replicas.procs[name].poll() is None  # the survivors are still running


async def _enough(items: list[object], n: int) -> list[object] | None:
    return items if len(items) >= n else None
