"""Dead letters without a broker: names, marks, what a replay carries, which ones a command picks, the
list's lines; and the consumer's side (a replay for another group, a failing dead-letter copy, a lost
database connection) with fakes."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest
from faststream.exceptions import NackMessage
from prometheus_client import REGISTRY

from deploy.dlq_cli import format_line
from shared import dlq, topics
from shared.consumer import EventConsumer, Handlers, route
from shared.db import Conn
from shared.events import Envelope, TenantCreated, make_event
from tests.unit.test_consumer_dispatch import FakeBroker, FakeConn, FakeMessage, FakePool, FakeRecord

TENANT = uuid.uuid4()
DLQ = topics.dlq(topics.TENANTS)


def letter(offset: int = 3, *, group: str | None = "fmf-matching", **kwargs: object) -> dlq.DeadLetter:
    headers = [("ce_type", b"tenant.created"), ("x-error", b"RuntimeError: boom\nmore"), ("x-original-offset", b"9")]
    if group:
        headers.append(("x-consumer-group", group.encode()))
    fields: dict[str, object] = {
        "dlq_topic": DLQ,
        "partition": 1,
        "offset": offset,
        "timestamp_ms": 1_700_000_000_000,
        "key": b"k",
        "value": b"{}",
        "headers": tuple(headers),
    }
    fields.update(kwargs)
    return dlq.DeadLetter(**fields)  # type: ignore[arg-type]


def test_a_position_is_partition_colon_offset() -> None:
    assert dlq.parse_position("0:17") == (0, 17)
    for bad in ("17", "a:1", "1:", ":1", "1:-2", "1:2:3"):
        with pytest.raises(ValueError, match="<partition>:<offset>"):
            dlq.parse_position(bad)


def test_a_time_without_an_offset_is_utc() -> None:
    assert dlq.parse_time("2026-11-30") == datetime(2026, 11, 30, tzinfo=UTC)
    assert dlq.parse_time("2026-11-30T19:00+01:00") == datetime(2026, 11, 30, 18, tzinfo=UTC)
    with pytest.raises(ValueError):
        dlq.parse_time("yesterday")


def test_a_mark_round_trips_and_anything_else_is_no_mark() -> None:
    at = datetime(2026, 11, 30, 18, 5, tzinfo=UTC)
    assert dlq.decode_mark(dlq.encode_mark(dlq.Status.SKIPPED, at)) == dlq.Mark(dlq.Status.SKIPPED, at)
    assert json.loads(dlq.encode_mark(dlq.Status.REPLAYED, at))["status"] == "replayed"
    for value in (None, b"", b"not json", b'{"status": "lost", "at": "2026-11-30"}', b"[]"):
        assert dlq.decode_mark(value) is None
    assert dlq.mark_key(DLQ, 2, 40) == f"{DLQ}:2:40" == letter(40, partition=2).ref


def test_a_dead_letter_says_its_group_type_error_and_time() -> None:
    dead = letter()
    assert dead.group == "fmf-matching" and dead.event_type == "tenant.created"
    assert dead.error == "RuntimeError: boom"  # the first line
    assert dead.time == datetime.fromtimestamp(1_700_000_000, UTC)
    body = json.dumps({"type": "meeting.created"}).encode()
    assert letter(headers=(), value=body).event_type == "meeting.created"
    assert letter(headers=(), value=b"{not json").event_type == "-"
    assert letter(headers=(), value=b"[1]").event_type == "-" and letter(headers=()).error == ""


def test_a_replayed_copy_is_for_the_failing_group_alone_and_carries_no_dead_letter_headers() -> None:
    headers = dlq.replay_headers(letter(offset=5))
    assert ("ce_type", b"tenant.created") in headers
    assert not {k for k, _ in headers} & {"x-error", "x-original-offset", "x-consumer-group"}
    assert headers[-2:] == [("x-replay-for", b"fmf-matching"), ("x-replay-of", f"{DLQ}:1:5".encode())]
    # A dead letter of a replay is replayed with its new place, not with the old one twice.
    again = letter(offset=8, headers=(*letter().headers, ("x-replay-for", b"fmf-matching"), ("x-replay-of", b"x")))
    headers = dlq.replay_headers(again)
    assert [v for k, v in headers if k == "x-replay-of"] == [f"{DLQ}:1:8".encode()]
    assert [v for k, v in headers if k == "x-replay-for"] == [b"fmf-matching"]
    # One no consumer of ours wrote goes back to every group.
    assert "x-replay-for" not in {k for k, _ in dlq.replay_headers(letter(group=None))}


def test_marks_give_statuses_and_select_picks_by_group_position_and_status() -> None:
    letters = [letter(0), letter(1, group="fmf-reporting"), letter(2)]
    now = datetime.now(UTC)
    marked = dlq.with_marks(letters, {letters[0].ref: dlq.Mark(dlq.Status.REPLAYED, now)})
    assert [d.status for d in marked] == [dlq.Status.REPLAYED, dlq.Status.NEW, dlq.Status.NEW]
    assert [d.offset for d in dlq.select(marked, statuses=[dlq.Status.NEW])] == [1, 2]
    assert [d.offset for d in dlq.select(marked, group="fmf-matching")] == [0, 2]
    assert [d.offset for d in dlq.select(marked, positions=[(1, 2), (0, 2)])] == [2]
    assert dlq.select(marked, group="fmf-matching", statuses=[dlq.Status.SKIPPED]) == []


def test_only_a_leading_run_of_purged_records_can_be_deleted() -> None:
    purged, new = dlq.Status.PURGED, dlq.Status.NEW
    letters = [letter(o, status=s) for o, s in ((4, purged), (5, purged), (6, new), (7, purged))]
    assert dlq.purge_cut(letters, 4, 8) == 6
    assert dlq.purge_cut(letters, 6, 8) == 6
    assert dlq.purge_cut([letter(o, status=purged) for o in range(3)], 0, 3) == 3


def test_a_line_of_the_list() -> None:
    line = format_line(letter(12), topics.TENANTS)
    assert line.split()[:7] == [
        topics.TENANTS,
        "1:12",
        "fmf-matching",
        "2023-11-14T22:13:20Z",
        "new",
        "tenant.created",
        "RuntimeError:",
    ]
    assert line.endswith("RuntimeError: boom")


# --- the consumer's side -------------------------------------------------------------------------------


def replays_skipped(group: str) -> float:
    return REGISTRY.get_sample_value("fmf_dlq_replays_skipped_total", {"group": group}) or 0.0


def tenant_created() -> Envelope:
    return make_event(
        "tenant.created", TENANT, TenantCreated(tenant_id=TENANT, slug="a", name="A", municipality_number="4203")
    )


class ClosableConn(FakeConn):
    def terminate(self) -> None:  # what the database layer does with a connection it lost
        pass


class ClosablePool(FakePool):
    def __init__(self) -> None:
        super().__init__()
        self.conn = ClosableConn()


def consumer(handler_error: BaseException | None = None, **kwargs: object) -> tuple[EventConsumer, list[str]]:
    applied: list[str] = []
    failures = [handler_error] if handler_error else []

    async def on_tenant(conn: Conn, event: Envelope, tenant: TenantCreated) -> None:
        if failures:
            raise failures.pop()
        applied.append(tenant.slug)

    group = f"test-{uuid.uuid4().hex[:8]}"
    made = EventConsumer(group, ClosablePool(), FakeBroker(), **kwargs)  # type: ignore[arg-type]
    Handlers(route("tenant.created", TenantCreated, on_tenant)).register(made)
    return made, applied


def message(headers: dict[str, str] | None = None) -> FakeMessage:
    return FakeMessage(FakeRecord(topics.TENANTS), headers=dict(headers or {}))


async def test_a_replay_for_another_group_is_acknowledged_unread_and_counted() -> None:
    mine, applied = consumer()
    body = tenant_created().model_dump_json().encode()
    await mine.process(body, message({"x-replay-for": "some-other-group"}))  # type: ignore[arg-type]
    assert applied == [] and replays_skipped(mine.group) == 1
    await mine.process(body, message({"x-replay-for": mine.group}))  # type: ignore[arg-type]
    assert applied == ["a"] and replays_skipped(mine.group) == 1


async def test_a_replay_that_fails_again_is_dead_lettered_once_for_the_same_group() -> None:
    mine, _ = consumer(RuntimeError("still broken"), max_attempts=1)
    replayed = {"x-replay-for": "g", "x-replay-of": f"{DLQ}:0:3", "ce_type": "tenant.created"}
    mine.group = "g"
    await mine.process(tenant_created().model_dump_json().encode(), message(replayed))  # type: ignore[arg-type]
    [(_, topic, headers)] = mine.broker.published  # type: ignore[attr-defined]
    assert topic == DLQ and headers["x-consumer-group"] == "g" == headers["x-replay-for"]
    assert headers["x-replay-of"] == f"{DLQ}:0:3"


class RefusingBroker(FakeBroker):
    async def publish(self, body: bytes, topic: str, *, key: object = None, headers: dict[str, str]) -> None:
        raise ConnectionError("the broker cannot be reached")


async def test_a_dead_letter_copy_that_keeps_failing_hands_the_message_back_instead_of_acking_it() -> None:
    mine, _ = consumer(dlq_patience_s=0.3)
    mine.broker = RefusingBroker()  # type: ignore[assignment]
    before = REGISTRY.get_sample_value("fmf_dlq_publish_failures_total", {"topic": topics.TENANTS}) or 0.0
    with pytest.raises(NackMessage):  # FastStream rewinds the partition to it: never committed
        await mine.process(b"{not json", message())  # type: ignore[arg-type]
    after = REGISTRY.get_sample_value("fmf_dlq_publish_failures_total", {"topic": topics.TENANTS}) or 0.0
    assert after - before >= 2  # retried with a pause before giving up


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.InternalClientError("cannot switch to state 15; another operation (2) is in progress"),
        ConnectionResetError("reset by peer"),
        TimeoutError(),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_a_lost_database_connection_is_retried_never_dead_lettered(error: BaseException) -> None:
    mine, applied = consumer(error, max_attempts=1)
    await mine.process(tenant_created().model_dump_json().encode(), message())  # type: ignore[arg-type]
    assert applied == ["a"] and mine.broker.published == []  # type: ignore[attr-defined]
