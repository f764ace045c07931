"""The operator's command line without a platform or a network: where its token comes from, the demo's
seating URL, and what the dead-letter commands refuse before they reach Kafka. What it says when
registration or Kafka cannot be reached (issue 17, kind 8) is in
``tests/integration/test_operator_cli_unreachable.py``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from deploy import cli
from shared.settings import get_settings


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.delenv("FMF_OPERATOR_TOKEN", raising=False)
    monkeypatch.setenv("FMF_VAR_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_the_token_make_up_keeps_is_used_when_the_variable_is_unset(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert cli.operator_token() == ""
    (tmp_path / "operator-token").write_text("kept-token\n")
    assert cli.operator_token() == "kept-token"
    env.setenv("FMF_OPERATOR_TOKEN", "exported-token")
    get_settings.cache_clear()
    assert cli.operator_token() == "exported-token"


def test_the_demo_prints_a_seating_url_without_a_double_slash() -> None:
    from deploy.demo import seating_url

    for base in ("http://127.0.0.1:8001/v1", "http://127.0.0.1:8001/v1/"):
        url = seating_url(httpx.Client(base_url=base), "m-1")
        assert url == "http://127.0.0.1:8001/v1/meetings/m-1/seating?format=html"


@pytest.mark.parametrize(
    ("command", "says"),
    [
        (["dlq", "replay", "fmf.tenants.v1", "--offset", "17"], "<partition>:<offset>"),
        (["dlq", "skip", "fmf.tenants.v1", "0:1", "x:y"], "<partition>:<offset>"),
        (["dlq", "purge", "fmf.tenants.v1", "--before", "yesterday"], "yesterday"),
        (["dlq", "list", "fmf.nothing.v1"], "one of: fmf.tenants.v1"),
        (["dlq", "replay", "fmf.tenants.v1.dlq"], "one of: fmf.tenants.v1"),
    ],
)
def test_the_dead_letter_commands_refuse_what_they_cannot_use_before_reaching_kafka(
    env: pytest.MonkeyPatch, command: list[str], says: str
) -> None:
    env.setenv("FMF_KAFKA_BOOTSTRAP", "127.0.0.1:1")  # never reached: the usage error comes first
    result = CliRunner().invoke(cli.app, command)
    assert result.exit_code == 2
    assert says in " ".join(result.output.split()), result.output
