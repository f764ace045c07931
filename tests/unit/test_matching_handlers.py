"""Matching's handlers, each called alone, over an in-memory stand-in for ``services.matching.store``.

The stand-in keeps meetings, candidates, proposals, locks and pair history as plain dicts and lists,
and replaces the outbox with a list of the events a handler would publish: no database, no broker.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest

from services.matching import handlers, store
from shared.db import Conn
from shared.events import (
    Capacity,
    Envelope,
    LockRequested,
    MeetingSnapshot,
    Pairing,
    Profile,
    PublishRequested,
    RegistrationChanged,
    Venue,
    make_event,
)
from tests.factories import daytime_start

TENANT, MEETING = uuid.uuid4(), uuid.uuid4()
CONN: Conn = None  # type: ignore[assignment]  # the stand-in store never touches the connection


@dataclass
class FakeStore:
    meetings: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    candidates: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    proposals: list[dict[str, Any]] = field(default_factory=list)
    locks: list[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=list)
    history: dict[uuid.UUID, list[tuple[uuid.UUID, uuid.UUID]]] = field(default_factory=dict)
    published: list[Envelope] = field(default_factory=list)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        async def upsert_meeting(
            conn: Conn,
            meeting_id: uuid.UUID,
            tenant_id: uuid.UUID,
            fmt: str,
            status: str,
            roster: list[uuid.UUID] | None,
        ) -> None:
            known = self.meetings.get(meeting_id, {})
            self.meetings[meeting_id] = {
                "meeting_id": meeting_id,
                "tenant_id": tenant_id,
                "format": fmt,
                "status": status,
                "roster": roster if roster is not None else known.get("roster"),
            }

        async def upsert_candidate(conn: Conn, **c: Any) -> None:
            self.candidates[c["registration_id"]] = dict(c)

        async def lock_meeting(conn: Conn, meeting_id: uuid.UUID) -> dict[str, Any] | None:
            return self.meetings.get(meeting_id)

        async def latest_proposal(conn: Conn, meeting_id: uuid.UUID) -> dict[str, Any] | None:
            mine = [p for p in self.proposals if p["meeting_id"] == meeting_id]
            return max(mine, key=lambda p: p["version"]) if mine else None

        async def candidates(conn: Conn, ids: list[uuid.UUID]) -> list[dict[str, Any]]:
            return [self.candidates[i] for i in ids if i in self.candidates]

        async def confirmed_candidates(conn: Conn, meeting_id: uuid.UUID) -> list[dict[str, Any]]:
            return sorted(
                (c for c in self.candidates.values() if c["meeting_id"] == meeting_id and c["status"] == "confirmed"),
                key=lambda c: c["registration_id"],
            )

        async def insert_versioned_proposal(
            conn: Conn, meeting_id: uuid.UUID, version: int, tenant_id: uuid.UUID, status: str, proposal: dict[str, Any]
        ) -> None:
            assert all(p["version"] != version for p in self.proposals if p["meeting_id"] == meeting_id)
            self.proposals.append(
                {"meeting_id": meeting_id, "version": version, "status": status, "proposal": proposal}
            )

        async def mark_published(conn: Conn, meeting_id: uuid.UUID, version: int, proposal: dict[str, Any]) -> None:
            for p in self.proposals:
                if p["meeting_id"] == meeting_id and p["version"] == version:
                    p.update(status="published", proposal=proposal)

        async def locks(conn: Conn, meeting_id: uuid.UUID) -> list[tuple[uuid.UUID, uuid.UUID]]:
            return sorted(self.locks)

        async def set_lock(
            conn: Conn, meeting_id: uuid.UUID, tenant_id: uuid.UUID, newcomer: uuid.UUID, resident: uuid.UUID
        ) -> None:
            self.locks = [(n, r) for n, r in self.locks if n != newcomer and r != resident] + [(newcomer, resident)]

        async def release_lock(conn: Conn, meeting_id: uuid.UUID, registration_id: uuid.UUID) -> None:
            self.locks = [lock for lock in self.locks if registration_id not in lock]

        async def history(conn: Conn, tenant_id: uuid.UUID, except_meeting: uuid.UUID) -> set[frozenset[uuid.UUID]]:
            return {frozenset(p) for m, pairs in self.history.items() if m != except_meeting for p in pairs}

        async def record_history(
            conn: Conn, tenant_id: uuid.UUID, meeting_id: uuid.UUID, pairs: list[tuple[uuid.UUID, uuid.UUID]]
        ) -> None:
            self.history[meeting_id] = list(pairs)

        async def enqueue(conn: Conn, source: str, events: list[tuple[Envelope, object]]) -> None:
            assert source == "matching" and all(key == MEETING for _, key in events)  # key = meeting_id
            self.published += [event for event, _ in events]

        for fake in (
            upsert_meeting,
            upsert_candidate,
            lock_meeting,
            latest_proposal,
            candidates,
            confirmed_candidates,
            insert_versioned_proposal,
            mark_published,
            locks,
            set_lock,
            release_lock,
            history,
            record_history,
        ):
            monkeypatch.setattr(store, fake.__name__, fake)
        monkeypatch.setattr(handlers.outbox, "enqueue", enqueue)

    def plan(self, version: int) -> Pairing:
        [row] = [p for p in self.proposals if p["version"] == version]
        return Pairing.model_validate(row["proposal"])


@pytest.fixture
def fake_store(monkeypatch: pytest.MonkeyPatch) -> FakeStore:
    fake = FakeStore()
    fake.install(monkeypatch)
    return fake


def meeting(status: str, roster: list[uuid.UUID] | None = None) -> MeetingSnapshot:
    return MeetingSnapshot(
        meeting_id=MEETING,
        tenant_id=TENANT,
        title="Kaffe og prat",
        format="standard",
        status=status,
        starts_at=daytime_start(),
        duration_minutes=105,
        venue=Venue(name="Arendal bibliotek", address="Torvet 6", kind="library"),
        capacity=Capacity(newcomer=10, resident=10),
        confirmed_registration_ids=roster,
    )


@dataclass(frozen=True)
class Person:
    registration_id: uuid.UUID
    participant_id: uuid.UUID
    group: str

    def changed(self, status: str, promoted: uuid.UUID | None = None) -> RegistrationChanged:
        profile = Profile(interests=["music"], languages=["nb", "en"], age_band="35-44")
        if self.group == "newcomer":
            profile.norwegian_level = "B1"
        return RegistrationChanged(
            registration_id=self.registration_id,
            participant_id=self.participant_id,
            meeting_id=MEETING,
            tenant_id=TENANT,
            group=self.group,  # type: ignore[arg-type]
            status=status,
            language="nb",
            profile=profile,
            promoted_registration_id=promoted,
        )


def person(group: str) -> Person:
    return Person(uuid.uuid4(), uuid.uuid4(), group)


async def on_meeting(status: str, roster: list[uuid.UUID] | None = None) -> Envelope:
    m = meeting(status, roster)
    event = make_event(f"meeting.{status}", TENANT, m)
    await handlers.meeting_changed(CONN, event, m)
    return event


async def on_registration(type_: str, r: RegistrationChanged) -> Envelope:
    event = make_event(type_, TENANT, r)
    await handlers.registration_changed(CONN, event, r)
    return event


def pairs_of(plan: Pairing) -> set[frozenset[uuid.UUID]]:
    return {frozenset(m.registration_id for m in pair.members) for pair in plan.pairs}


async def test_the_first_plan_waits_for_every_registration_of_the_roster(fake_store: FakeStore) -> None:
    newcomer, resident = person("newcomer"), person("resident")
    await on_meeting("registration_closed", [newcomer.registration_id, resident.registration_id])
    await on_registration("registration.confirmed", newcomer.changed("confirmed"))
    assert fake_store.proposals == [] and fake_store.published == []  # the resident has not arrived yet

    cause = await on_registration("registration.confirmed", resident.changed("confirmed"))

    [event] = fake_store.published
    assert event.type == "matching.pairs_proposed" and event.causation_id == cause.id
    plan = Pairing.model_validate(event.data)
    assert plan == fake_store.plan(1) and plan.status == "proposed"
    assert pairs_of(plan) == {frozenset({newcomer.registration_id, resident.registration_id})}


async def test_a_cancellation_that_promoted_someone_waits_for_the_promotion(fake_store: FakeStore) -> None:
    n1, r1, r2, waiting = person("newcomer"), person("resident"), person("resident"), person("resident")
    for p in (n1, r1, r2):
        await on_registration("registration.confirmed", p.changed("confirmed"))
    await on_meeting("registration_closed", [n1.registration_id, r1.registration_id, r2.registration_id])
    assert [e.type for e in fake_store.published] == ["matching.pairs_proposed"]

    await on_registration("registration.cancelled", r2.changed("cancelled", promoted=waiting.registration_id))
    assert len(fake_store.published) == 1  # no re-match yet: the promotion follows

    await on_registration("registration.promoted", waiting.changed("confirmed"))
    assert [e.type for e in fake_store.published] == ["matching.pairs_proposed"] * 2
    plan = fake_store.plan(2)
    seated = {m.registration_id for pair in plan.pairs for m in pair.members}
    assert r2.registration_id not in seated and {n1.registration_id, waiting.registration_id} <= seated | {
        u.registration_id for u in plan.unpaired
    }


async def closed_with_a_plan(fake_store: FakeStore) -> tuple[Person, Person]:
    newcomer, resident = person("newcomer"), person("resident")
    for p in (newcomer, resident):
        await on_registration("registration.confirmed", p.changed("confirmed"))
    await on_meeting("registration_closed", [newcomer.registration_id, resident.registration_id])
    fake_store.published.clear()
    return newcomer, resident


async def test_publishing_the_latest_version_announces_it_and_remembers_its_pairs(fake_store: FakeStore) -> None:
    newcomer, resident = await closed_with_a_plan(fake_store)
    command = PublishRequested(meeting_id=MEETING, tenant_id=TENANT, version=1)
    cause = make_event("matching.publish_requested", TENANT, command)

    await handlers.publish_requested(CONN, cause, command)

    [event] = fake_store.published
    assert event.type == "matching.pairs_published" and event.causation_id == cause.id
    assert Pairing.model_validate(event.data).status == "published"
    assert fake_store.proposals[0]["status"] == "published"
    assert [frozenset(p) for p in fake_store.history[MEETING]] == [
        frozenset({newcomer.participant_id, resident.participant_id})
    ]


@pytest.mark.parametrize("version", [0, 2])
async def test_publishing_another_version_is_ignored(fake_store: FakeStore, version: int) -> None:
    await closed_with_a_plan(fake_store)
    command = PublishRequested(meeting_id=MEETING, tenant_id=TENANT, version=version)
    await handlers.publish_requested(CONN, make_event("matching.publish_requested", TENANT, command), command)
    assert fake_store.published == [] and fake_store.history == {}
    assert fake_store.proposals[0]["status"] == "proposed"


async def test_commands_before_registration_closes_are_ignored(fake_store: FakeStore) -> None:
    await on_meeting("published")
    command = PublishRequested(meeting_id=MEETING, tenant_id=TENANT, version=1)
    await handlers.publish_requested(CONN, make_event("matching.publish_requested", TENANT, command), command)
    assert fake_store.published == [] and fake_store.proposals == []


async def test_locking_a_seated_pair_makes_a_new_version_with_the_pair_locked(fake_store: FakeStore) -> None:
    newcomer, resident = await closed_with_a_plan(fake_store)
    command = LockRequested(meeting_id=MEETING, tenant_id=TENANT, registration_id=resident.registration_id)
    await handlers.lock_requested(CONN, make_event("matching.lock_requested", TENANT, command), command)
    assert fake_store.locks == [(newcomer.registration_id, resident.registration_id)]
    [pair] = fake_store.plan(2).pairs
    assert pair.locked

    command = LockRequested(meeting_id=MEETING, tenant_id=TENANT, registration_id=uuid.uuid4())
    await handlers.lock_requested(CONN, make_event("matching.lock_requested", TENANT, command), command)
    assert len(fake_store.proposals) == 2  # someone not seated: ignored


def test_only_the_latest_unpublished_version_is_publishable() -> None:
    plan = Pairing(meeting_id=MEETING, tenant_id=TENANT, version=3, pairs=[])
    command = PublishRequested(meeting_id=MEETING, tenant_id=TENANT, version=3)
    published = handlers.publishable(plan, command)
    assert published is not None and published.status == "published" and plan.status == "proposed"
    assert handlers.publishable(plan, command.model_copy(update={"version": 2})) is None
    assert handlers.publishable(published, command) is None
