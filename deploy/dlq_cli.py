"""``fmf dlq``: the operator's dead-letter commands (list, replay, skip, purge), on Kafka (FMF_KAFKA_BOOTSTRAP).

A dead letter is named by its topic and its place in ``<topic>.dlq``, ``<partition>:<offset>`` (as
``fmf dlq list`` prints it). What was done with each is kept in Kafka (``fmf.dlq-marks.v1``); see
``shared/dlq.py``.
"""

from __future__ import annotations

from collections.abc import Coroutine
from datetime import datetime
from typing import Annotated, Any, TypeVar

import typer

from shared import dlq, topics
from shared.settings import Settings

T = TypeVar("T")

dlq_app = typer.Typer(no_args_is_help=True, help="Dead letters: list, replay, skip, purge.")


def _run(work: Coroutine[Any, Any, T]) -> T:
    from deploy.cli import _run as run  # the command line's one way of saying a server is unreachable

    return run(work)


def _bootstrap() -> str:
    return Settings().kafka_bootstrap


def _topic(topic: str) -> str:
    if topic not in topics.ALL:
        raise typer.BadParameter(f"one of: {', '.join(topics.ALL)}", param_hint="TOPIC")
    return topic


def _positions(texts: list[str] | None, hint: str) -> list[tuple[int, int]] | None:
    if not texts:
        return None
    try:
        return [dlq.parse_position(t) for t in texts]
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=hint) from None


def format_line(letter: dlq.DeadLetter, original_topic: str) -> str:
    """One line of ``fmf dlq list``: topic, partition:offset in its .dlq, group, time (UTC), status, event
    type and the error's first line (cut to 200 characters)."""
    return (
        f"{original_topic:<24} {letter.partition}:{letter.offset:<8} {letter.group or '-':<28}"
        f" {letter.time:%Y-%m-%dT%H:%M:%SZ} {letter.status.value:<8} {letter.event_type:<32} {letter.error[:200]}"
    )


HEADER = f"{'TOPIC':<24} {'P:OFFSET':<10} {'GROUP':<28} {'TIME (UTC)':<20} {'STATUS':<8} {'EVENT TYPE':<32} ERROR"


@dlq_app.command("list")
def dlq_list(
    topic: Annotated[str | None, typer.Argument(help="One topic; default: every topic.")] = None,
    group: Annotated[str | None, typer.Option(help="Only the dead letters of this consumer group.")] = None,
) -> None:
    """Every dead letter not purged: topic, partition:offset in <topic>.dlq, consumer group, time, status
    (new, replayed, skipped), event type and the error's first line."""
    names = [_topic(topic)] if topic else list(topics.ALL)
    letters = _run(dlq.read_dead_letters(_bootstrap(), names))
    shown = [d for d in dlq.select(letters, group=group) if d.status is not dlq.Status.PURGED]
    if not shown:
        typer.echo("no dead letters")
        return
    typer.echo(HEADER)
    original = {topics.dlq(t): t for t in names}
    for letter in shown:
        typer.echo(format_line(letter, original[letter.dlq_topic]))
    counts = {s: sum(d.status is s for d in shown) for s in dlq.Status if s is not dlq.Status.PURGED}
    typer.echo(f"{len(shown)} dead letters (" + ", ".join(f"{s.value}: {n}" for s, n in counts.items()) + ")")


@dlq_app.command("replay")
def dlq_replay(
    topic: str,
    group: Annotated[str | None, typer.Option(help="Only the dead letters of this consumer group.")] = None,
    offset: Annotated[
        list[str] | None, typer.Option("--offset", help="Only this one, <partition>:<offset> (repeatable).")
    ] = None,
) -> None:
    """Send the new dead letters of <topic>.dlq back to <topic>, each for the consumer group that failed
    it alone (after a fix); each is marked replayed and never sent again. One that fails again comes back
    to the .dlq once, as a new dead letter."""
    positions = _positions(offset, "--offset")
    replayed = _run(dlq.replay(_bootstrap(), _topic(topic), group=group, positions=positions))
    groups = sorted({d.group or "every group" for d in replayed})
    typer.echo(
        f"republished {len(replayed)} dead letters from {topics.dlq(topic)} to {topic}"
        + (f", for {', '.join(groups)}" if groups else "")
        + "; marked replayed"
    )


@dlq_app.command("skip")
def dlq_skip(
    topic: str,
    positions: Annotated[list[str], typer.Argument(help="<partition>:<offset> in <topic>.dlq, one or more.")],
) -> None:
    """Mark dead letters skipped: they are listed as such and never replayed."""
    wanted = _positions(positions, "POSITIONS") or []
    try:
        skipped = _run(dlq.skip(_bootstrap(), _topic(topic), wanted))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="POSITIONS") from None
    typer.echo(f"skipped {len(skipped)} dead letters of {topics.dlq(topic)}")


@dlq_app.command("purge")
def dlq_purge(
    topic: str,
    before: Annotated[
        str | None, typer.Option(help="Only those dead-lettered before this time (ISO 8601; UTC if no offset).")
    ] = None,
) -> None:
    """Purge dead letters: no longer listed, never replayed. They are marked purged; where a partition's
    oldest records are all purged, Kafka's DeleteRecords removes them too. A broker without DeleteRecords
    (the embedded one) keeps the records until retention: a log cannot drop records from its middle
    anyway, so the mark is what purges."""
    moment: datetime | None = None
    if before:
        try:
            moment = dlq.parse_time(before)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--before") from None
    result = _run(dlq.purge(_bootstrap(), _topic(topic), before=moment))
    deleted = (
        "the broker cannot delete records: they stay until retention"
        if result.deleted is None
        else f"{result.deleted} records deleted"
    )
    typer.echo(f"purged {len(result.marked)} dead letters of {topics.dlq(topic)} ({deleted})")
