"""The operator's command line against the running platform (as a separate process, like on a server)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import httpx
import pytest

from deploy.local.platform import PlatformConfig
from shared import topics
from tests.support import read_all


def fmf(platform: PlatformConfig, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FMF_")}
    env.update(
        {
            "FMF_REGISTRATION_URL": platform.url("registration"),
            "FMF_OPERATOR_TOKEN": platform.operator_token,
            "FMF_KAFKA_BOOTSTRAP": platform.kafka_bootstrap,
            "FMF_TOPIC_PARTITIONS": "3",
        }
    )
    done = subprocess.run(
        [sys.executable, "-m", "deploy.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def test_tenants_and_tokens(platform: PlatformConfig) -> None:
    slug = f"cli-{uuid.uuid4().hex[:6]}"
    assert f"created {slug}" in fmf(
        platform, "tenant", "create", slug, "CLI kommune", f"{uuid.uuid4().int % 9000 + 1000}"
    )
    assert slug in fmf(platform, "tenant", "list")
    out = fmf(platform, "token", "issue", slug)
    token_id = out.split("token id:")[1].split()[0]
    token = out.split("token:")[1].split()[0]
    meetings = platform.url("registration") + f"/v1/tenants/{slug}/meetings"
    assert httpx.get(meetings, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    fmf(platform, "tenant", "suspend", slug)
    assert httpx.get(meetings, headers={"Authorization": f"Bearer {token}"}).status_code == 401
    fmf(platform, "tenant", "reactivate", slug)
    fmf(platform, "token", "revoke", slug, token_id)
    assert httpx.get(meetings, headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert "all topics exist" in fmf(platform, "topic", "create")


def test_demo_runs_a_whole_meeting(platform: PlatformConfig) -> None:
    out = fmf(platform, "demo", "--slug", f"demo-{uuid.uuid4().hex[:6]}", "--people", "4")
    assert out.count("pair ") == 4
    assert "seat" in out and "seating plan:" in out


@pytest.mark.asyncio(loop_scope="session")
async def test_dead_letters_can_be_replayed(platform: PlatformConfig) -> None:
    from aiokafka import AIOKafkaProducer

    marker = uuid.uuid4().hex
    producer = AIOKafkaProducer(bootstrap_servers=platform.kafka_bootstrap)
    await producer.start()
    try:
        body = json.dumps({"type": "test.marker", "tenant_id": str(uuid.uuid4()), "data": {"marker": marker}})
        await producer.send_and_wait(
            topics.dlq(topics.FEEDBACK),
            body.encode(),
            key=b"k",
            headers=[("ce_type", b"test.marker"), ("x-error", b"boom")],
        )
    finally:
        await producer.stop()
    assert "republished" in fmf(platform, "dlq", "replay", topics.FEEDBACK)
    back = [
        r for r in await read_all(platform.kafka_bootstrap, [topics.FEEDBACK]) if marker.encode() in (r.value or b"")
    ]
    assert len(back) >= 1
    assert ("x-error", b"boom") not in back[0].headers and ("ce_type", b"test.marker") in back[0].headers
