"""The operator's command line: ``fmf --help`` (or ``python -m deploy.cli``).

Tenant and token commands talk to the registration API (FMF_REGISTRATION_URL, FMF_OPERATOR_TOKEN, else
the token ``make up`` keeps in var/operator-token): ``CliSettings``;
topic, replay and dead-letter commands talk to Kafka (FMF_KAFKA_BOOTSTRAP): the services' ``Settings``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import httpx
import typer
from aiokafka.errors import KafkaConnectionError
from pydantic import Field, SecretStr

from deploy.dlq_cli import dlq_app
from deploy.outbox_cli import database_url, outbox_app
from shared import topics
from shared.registry import SERVICES
from shared.settings import FmfSettings, Settings


class CliSettings(FmfSettings):
    """What the command line reads for the registration API (the Kafka commands read ``Settings``)."""

    registration_url: str = Field("http://127.0.0.1:8001", description="Base URL of the registration service.")
    operator_token: SecretStr = Field(
        SecretStr(""), description="The operator's token; empty: the one ``make up`` keeps in <var_dir>."
    )
    var_dir: Path = Field(Path("var"), description="Where ``make up`` keeps its data and the operator's token.")


app = typer.Typer(add_completion=False, no_args_is_help=True, help="Operate the Folk møter folk platform.")
tenant_app = typer.Typer(no_args_is_help=True, help="Municipalities (tenants).")
token_app = typer.Typer(no_args_is_help=True, help="Coordinator tokens.")
topic_app = typer.Typer(no_args_is_help=True, help="Kafka topics.")
app.add_typer(tenant_app, name="tenant")
app.add_typer(token_app, name="token")
app.add_typer(topic_app, name="topic")
app.add_typer(dlq_app, name="dlq")
app.add_typer(outbox_app, name="outbox")

T = TypeVar("T")


def operator_token() -> str:
    """FMF_OPERATOR_TOKEN, else the token ``make up`` keeps in ``$FMF_VAR_DIR/operator-token`` (var/)."""
    settings = CliSettings()
    if token := settings.operator_token.get_secret_value():
        return token
    kept = settings.var_dir / "operator-token"
    return kept.read_text().strip() if kept.is_file() else ""


class _Api(httpx.Client):
    """The registration API; when it cannot be reached, one line says so and the command exits 1."""

    def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        try:
            return super().send(request, **kwargs)
        except httpx.TransportError as exc:
            typer.echo(
                f"error: cannot reach registration at {self.base_url} ({type(exc).__name__}):"
                " is it running? (make up starts it; FMF_REGISTRATION_URL says where it is)",
                err=True,
            )
            raise typer.Exit(1) from None


def _run(work: Coroutine[Any, Any, T]) -> T:
    """Run a command's Kafka (and database) work; when a server cannot be reached, one line says which and
    the command exits 1, instead of a page of traceback."""
    settings = Settings()
    # aiokafka logs each failed connection attempt (hundreds of lines while it retries); the one line below
    # says what matters.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        return asyncio.run(work)
    except KafkaConnectionError:
        typer.echo(
            f"error: cannot reach Kafka at {settings.kafka_bootstrap}: is it running? (FMF_KAFKA_BOOTSTRAP says"
            " where it is)",
            err=True,
        )
    except OSError as exc:
        typer.echo(f"error: cannot reach a server ({exc}): is it running? (FMF_DATABASE_URL, ...)", err=True)
    raise typer.Exit(1)


def _api() -> httpx.Client:
    base = CliSettings().registration_url
    token = operator_token()
    if not token:
        raise typer.BadParameter("set FMF_OPERATOR_TOKEN (make up prints it, and keeps it in var/operator-token)")
    return _Api(base_url=base.rstrip("/") + "/v1", headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _check(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        typer.echo(f"error {response.status_code}: {detail}", err=True)
        raise typer.Exit(1)
    return response.json() if response.content else None


@tenant_app.command("create")
def tenant_create(slug: str, name: str, municipality_number: str) -> None:
    """Onboard a municipality, e.g. `fmf tenant create arendal "Arendal kommune" 4203`."""
    with _api() as api:
        tenant = _check(
            api.post("/tenants", json={"slug": slug, "name": name, "municipality_number": municipality_number})
        )
    typer.echo(f"created {tenant['slug']} ({tenant['id']})")


@tenant_app.command("list")
def tenant_list() -> None:
    with _api() as api:
        for t in _check(api.get("/tenants")):
            typer.echo(f"{t['slug']:<24} {t['municipality_number']}  {t['status']:<10} {t['name']}")


@tenant_app.command("suspend")
def tenant_suspend(slug: str) -> None:
    """Its coordinators' tokens stop working and its meetings take no sign-ups; nothing is deleted."""
    with _api() as api:
        _check(api.post(f"/tenants/{slug}/suspend"))
    typer.echo(f"suspended {slug}")


@tenant_app.command("reactivate")
def tenant_reactivate(slug: str) -> None:
    with _api() as api:
        _check(api.post(f"/tenants/{slug}/reactivate"))
    typer.echo(f"reactivated {slug}")


@token_app.command("issue")
def token_issue(slug: str) -> None:
    """A coordinator token for the tenant; it is shown once."""
    with _api() as api:
        token = _check(api.post(f"/tenants/{slug}/tokens"))
    typer.echo(f"token id: {token['token_id']}\ntoken:    {token['token']}")


@token_app.command("revoke")
def token_revoke(slug: str, token_id: str) -> None:
    with _api() as api:
        _check(api.delete(f"/tenants/{slug}/tokens/{token_id}"))
    typer.echo(f"revoked {token_id}")


@topic_app.command("create")
def topic_create(
    partitions: Annotated[int | None, typer.Option(help="Default: FMF_TOPIC_PARTITIONS")] = None,
) -> None:
    """Create every topic and its dead-letter topic that does not exist yet."""
    settings = Settings()
    created = _run(
        topics.ensure_topics(
            settings.kafka_bootstrap, partitions or settings.topic_partitions, settings.topic_replication
        )
    )
    typer.echo("created: " + (", ".join(created) if created else "nothing, all topics exist"))


@app.command()
def replay(service: str) -> None:
    """Re-read every topic a service consumes from the beginning (stop the service first). Events it
    applied already are skipped by its inbox; use this after fixing what sent events to a DLQ."""
    from deploy import offsets

    if service not in SERVICES:
        raise typer.BadParameter(f"one of: {', '.join(SERVICES)}")
    settings = Settings()
    handlers = __import__(f"services.{service}.handlers", fromlist=["SUBSCRIBES_TO"])
    group = f"{settings.consumer_group_prefix}-{service}"
    moved = _run(offsets.rewind(settings.kafka_bootstrap, group, handlers.SUBSCRIBES_TO))
    typer.echo(f"{group}: {moved} partitions rewound to the beginning")


@app.command()
def rebuild(
    service: Annotated[str, typer.Argument(help="The service whose read model to rebuild.")] = "reporting",
) -> None:
    """Empty a read model and rebuild it from the topics (reporting; stop the service first). Its database is
    found as ``fmf outbox republish`` finds one (FMF_REPORTING_DATABASE_URL, FMF_DATABASE_URL, or make up's)."""
    if service != "reporting":
        raise typer.BadParameter("only reporting keeps a read model that can be rebuilt from the topics alone")
    from services.reporting.rebuild import RebuildRefused
    from services.reporting.rebuild import rebuild as run
    from services.reporting.settings import ReportingSettings

    try:
        result = _run(run(ReportingSettings(database_url=database_url("reporting"))))
    except RebuildRefused as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"rebuilt: {result.events} events applied, {result.skipped} skipped, in {result.seconds:.1f} s")


@app.command()
def demo(slug: str = "demo", people: int = 10) -> None:
    """Run one whole meeting through the platform: tenant, token, meeting, sign-ups, close, pairs."""
    from deploy.demo import run_demo

    run_demo(_api(), slug, people, echo=typer.echo)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
