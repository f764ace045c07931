"""The operator's command line when what it talks to cannot be reached: registration's HTTP port and
Kafka's, both closed (real sockets, refused), each a one-line failure (issue 17, kind 8)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deploy import cli
from shared.settings import get_settings


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.delenv("FMF_OPERATOR_TOKEN", raising=False)
    monkeypatch.setenv("FMF_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("FMF_REGISTRATION_URL", f"http://127.0.0.1:{_closed_port()}")
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_unreachable_registration_is_one_line_and_a_failure(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "operator-token").write_text("kept-token")
    result = CliRunner().invoke(cli.app, ["tenant", "list"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "cannot reach registration" in lines[0], result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", [["dlq", "replay", "fmf.tenants.v1"], ["replay", "matching"]])
def test_unreachable_kafka_is_one_line_and_a_failure(env: pytest.MonkeyPatch, command: list[str]) -> None:
    """The same fault for the Kafka commands: a page of traceback and 'Unclosed AIOKafkaConsumer' lines."""
    env.setenv("FMF_KAFKA_BOOTSTRAP", f"127.0.0.1:{_closed_port()}")
    get_settings.cache_clear()
    result = CliRunner().invoke(cli.app, command)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "cannot reach Kafka" in lines[0], result.output
