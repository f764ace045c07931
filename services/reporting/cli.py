"""The reporting command line: run the service (the default), or rebuild the read model from the topics."""

from __future__ import annotations

import asyncio

import typer

from shared import logs
from shared.settings import get_settings

app = typer.Typer(add_completion=False, help="The reporting service of Folk møter folk.")


@app.callback(invoke_without_command=True)
def main(ctx: typer.Context) -> None:
    """Without a command: run the service (HTTP and consumers)."""
    if ctx.invoked_subcommand is None:
        serve()


@app.command()
def serve() -> None:
    """Run the service: consume every topic and serve the reports."""
    from services.reporting.app import SPEC
    from shared.service import serve as run

    run(SPEC)


@app.command()
def rebuild() -> None:
    """Empty the read model and replay every topic from the beginning (stop the service first)."""
    from services.reporting.rebuild import RebuildRefused
    from services.reporting.rebuild import rebuild as run

    settings = get_settings()
    logs.configure("reporting", settings.log_level, settings.log_json)
    try:
        result = asyncio.run(run(settings))
    except RebuildRefused as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"rebuilt: {result.events} events applied, {result.skipped} skipped, in {result.seconds:.1f} s")
