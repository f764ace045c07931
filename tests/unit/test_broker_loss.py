"""The pure parts of noticing a broker loss and of publishing the outbox again: nothing needs to run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import typer
from aiokafka import TopicPartition

from deploy.outbox_cli import database_url, parse_since
from services.reporting.rebuild import history_lost_message
from shared.broker_loss import LogGuard, loss_reason
from shared.registry import SERVICES

TP = TopicPartition("fmf.registrations.v1", 2)


def test_a_missing_topic_is_a_loss() -> None:
    assert (
        loss_reason(["fmf.tenants.v1", "fmf.contacts.v1"], {}, {}) == "topics missing: fmf.contacts.v1, fmf.tenants.v1"
    )


def test_a_partition_ending_below_an_acknowledged_offset_is_a_loss() -> None:
    assert loss_reason([], {TP: 41}, {TP: 7}) == "fmf.registrations.v1[2] ends at 7, below 41"
    assert loss_reason([], {TP: 41}, {}) == "fmf.registrations.v1[2] ends at nothing, below 41"


def test_a_log_at_or_past_what_was_acknowledged_is_no_loss() -> None:
    assert loss_reason([], {TP: 41}, {TP: 41}) is None
    assert loss_reason([], {TP: 41}, {TP: 500}) is None
    assert loss_reason([], {}, {}) is None


def test_the_guard_keeps_the_highest_acknowledged_offset_per_partition() -> None:
    guard = LogGuard("127.0.0.1:1")
    guard.acknowledged(TP.topic, TP.partition, 10)
    guard.acknowledged(TP.topic, TP.partition, 3)  # an older answer arriving late
    guard.acknowledged(TP.topic, 0, 0)
    # a batch's first offset + 1: the embedded broker's end offset stops there within the last batch
    assert guard.acked == {TP: 11, TopicPartition(TP.topic, 0): 1}


def test_the_guard_looks_at_once_after_a_failure_and_otherwise_at_its_interval() -> None:
    guard = LogGuard("127.0.0.1:1", check_interval_s=60)
    assert guard.due()  # the first round looks before it publishes
    guard.postpone()
    assert not guard.due()
    guard.failed()
    assert guard.due()


def test_since_is_an_iso_time_taken_as_utc_without_an_offset() -> None:
    assert parse_since(None) is None
    assert parse_since("2026-11-30T18:00:00") == datetime(2026, 11, 30, 18, tzinfo=UTC)
    assert parse_since("2026-11-30T19:00:00+01:00") == datetime(2026, 11, 30, 19, tzinfo=timezone(timedelta(hours=1)))
    with pytest.raises(typer.BadParameter, match="not an ISO time"):
        parse_since("yesterday")


def test_the_database_is_the_services_own_variable_else_the_common_one() -> None:
    env = {"FMF_DATABASE_URL": "postgresql://db/common", "FMF_REGISTRATION_DATABASE_URL": "postgresql://db/reg"}
    assert database_url("registration", env) == "postgresql://db/reg"
    assert database_url("reporting", env) == "postgresql://db/common"
    with pytest.raises(typer.BadParameter):
        database_url("billing", env)


def test_without_a_variable_the_database_is_the_one_make_up_gave_the_service_never_a_default(
    tmp_path: Path,
) -> None:
    with pytest.raises(typer.BadParameter, match="FMF_MATCHING_DATABASE_URL"):
        database_url("matching", {"FMF_VAR_DIR": str(tmp_path)})
    (tmp_path / "server-dsn").write_text("postgresql://postgres@127.0.0.1:55432/postgres\n")
    assert database_url("matching", {"FMF_VAR_DIR": str(tmp_path)}) == (
        "postgresql://postgres@127.0.0.1:55432/fmf_matching"
    )


def test_a_refused_rebuild_says_what_to_run_first() -> None:
    message = history_lost_message(432, 1083)
    assert "no longer hold 432 of the 1083 events" in message
    assert "nothing was changed" in message
    for service in SERVICES:
        assert f"fmf outbox republish {service}" in message
