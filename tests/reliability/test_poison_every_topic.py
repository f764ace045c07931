"""Poison on every topic a service consumes, on every partition, of three kinds: bytes that are no
envelope, a valid envelope whose payload does not validate, and an event type nobody knows. Every consumer
group keeps going (later valid events reach every service), each poison message is dead-lettered once per
group that routes it (the unknown type by none: it is counted in ``fmf_events_ignored_total``), nothing of
it is applied, and the operator's dead-letter replay (``fmf dlq replay``) sends each dead letter once, to
the group that failed it alone (which dead-letters the poison once more), and never again: the dead letters
grow by at most one per failing message and group and replay, and do not multiply by the groups."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime

import httpx
import pytest

from deploy.local.platform import SERVICES, PlatformConfig
from tests.registration_support import RegistrationApi
from tests.reliability.support import (
    Poison,
    account,
    consumed_topics,
    dead_letters,
    dead_letters_of,
    dlq_replay,
    ignored_unknown,
    poison_applied,
    publish_poison,
    published_events,
    replayed_copies,
)
from tests.support import eventually, wait_until_quiet

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def a_closed_meeting(api: RegistrationApi, http: httpx.AsyncClient, people: int = 2) -> str:
    """A tenant's meeting with ``people`` newcomers and residents, closed: events on the tenant, meeting,
    registration, contact and matching topics (the pairs matching proposes), and mails (notification's)."""
    tenant = await api.tenant(http)
    meeting = await api.meeting(http, tenant)
    for i in range(people):
        for group in ("newcomer", "resident"):
            r = await api.sign_up(http, tenant, meeting, group, i, domain=f"{tenant.slug}.example.no")
            assert r.status_code == 201, r.text
    closed = await http.post(f"{api.base}/meetings/{meeting}/close", headers=tenant.headers)
    assert closed.status_code == 200, closed.text
    return meeting


def expected_dead_letters(poison: list[Poison]) -> Counter[tuple[str, str]]:
    return Counter({(p.key, group): 1 for p in poison for group in p.dead_letter_groups})


async def test_poison_on_every_topic_is_dead_lettered_once_per_group_and_replayed_once(
    platform: PlatformConfig,
) -> None:
    api = RegistrationApi(platform)
    async with httpx.AsyncClient(timeout=30) as http:
        await a_closed_meeting(api, http)
        await wait_until_quiet(platform, timeout_s=90)
        ignored_before = await ignored_unknown(platform)
        poisoned_at = datetime.now(UTC)
        poison = await publish_poison(platform, uuid.uuid4().hex[:8])
        assert {p.topic for p in poison} == set(consumed_topics())
        wanted = expected_dead_letters(poison)
        assert {group for _, group in wanted} == {f"{platform.consumer_group_prefix}-{s}" for s in SERVICES}

        # Valid events after the poison, on the same partitions: each group must get past its poison.
        await a_closed_meeting(api, http)
        await wait_until_quiet(platform, timeout_s=120)

    # Every consumer group kept going: every event written after the poison that a service routes reached
    # its inbox, and each service applied at least one.
    async def later_events_applied() -> object:
        later = [e for e in await published_events(platform) if e["created_at"] > poisoned_at]
        books = await account(platform, later)
        return books if books.lost == 0 and all(books.expected.values()) else None

    await eventually(later_events_applied, timeout_s=60, every_s=0.5)

    # Each poison message dead-lettered once by each group that routes it, and by no other group.
    async def all_dead_lettered() -> object:
        found = dead_letters_of(await dead_letters(platform.kafka_bootstrap), poison)
        return found if found == wanted else None

    try:
        await eventually(all_dead_lettered, timeout_s=30, every_s=0.5)
    except AssertionError:
        found = dead_letters_of(await dead_letters(platform.kafka_bootstrap), poison)
        missing, extra = wanted - found, found - wanted
        raise AssertionError(f"dead letters missing: {dict(missing)}; extra: {dict(extra)}") from None
    first = await dead_letters(platform.kafka_bootstrap)

    # The unknown type was skipped and counted by every group that reads its topic, dead-lettered by none.
    ignored_after = await ignored_unknown(platform)
    unknown = Counter(group for p in poison for group in p.ignoring_groups)
    assert {g: ignored_after[g] - ignored_before.get(g, 0.0) for g in unknown} == {
        g: float(n) for g, n in unknown.items()
    }
    assert await poison_applied(platform, poison) == dict.fromkeys(SERVICES, 0)

    # Replay: each dead letter goes back to the group whose handler failed, and to no other. The poison
    # fails there again and is dead-lettered once more by that group: once per message and group.
    await dlq_replay(platform)
    await wait_until_quiet(platform, timeout_s=90)
    copies = await replayed_copies(platform.kafka_bootstrap)
    assert copies == Counter({d.ref: 1 for d in first}), "each dead letter is replayed once"

    async def dead_lettered_again() -> object:
        found = dead_letters_of(await dead_letters(platform.kafka_bootstrap), poison)
        return found if found == wanted + wanted else None

    try:
        await eventually(dead_lettered_again, timeout_s=30, every_s=0.5)
    except AssertionError:
        found = dead_letters_of(await dead_letters(platform.kafka_bootstrap), poison)
        assert set(found) == set(wanted), f"a replayed message reached a group that had not failed: {found}"
        raise AssertionError(f"not once more per message and group: {dict(found - wanted)}") from None
    after_one = await dead_letters(platform.kafka_bootstrap)
    assert await poison_applied(platform, poison) == dict.fromkeys(SERVICES, 0)

    # Replay is idempotent per dead letter: a second one sends none of those the first one sent. It may send
    # the dead letters the first replay's failures made (each a new dead letter, once), which then fail once
    # more each: the dead letters grow by at most one per failing message and group, never by one per group.
    await dlq_replay(platform)
    await wait_until_quiet(platform, timeout_s=90)
    copies_again = await replayed_copies(platform.kafka_bootstrap)
    assert max(copies_again.values()) == 1, "a dead letter was replayed twice"
    assert all(copies_again[ref] == 1 for ref in copies), "the second replay sent what the first one sent"
    resent = sum(copies_again.values()) - sum(copies.values())
    assert resent <= len(after_one) - len(first)
    target = wanted + wanted + (wanted if resent else Counter())

    async def not_multiplied() -> object:
        found = dead_letters_of(await dead_letters(platform.kafka_bootstrap), poison)
        return found if found == target else None

    try:
        await eventually(not_multiplied, timeout_s=30, every_s=0.5)
    except AssertionError:
        found = dead_letters_of(await dead_letters(platform.kafka_bootstrap), poison)
        raise AssertionError(
            f"the second replay sent {resent} dead letters; per message and group now {dict(found - target)} more"
            f" than {dict(target)}"
        ) from None
    assert await poison_applied(platform, poison) == dict.fromkeys(SERVICES, 0)
