"""Operator commands: ``newsflow stats``, ``newsflow trim``, ``newsflow dead ...``."""

from __future__ import annotations

import sys
import time
from dataclasses import asdict
from typing import Annotated, Any

import msgspec
import typer
from rich.console import Console
from rich.table import Table

from pipeline.deadletter import list_dead, purge_dead, reopen_dead
from pipeline.errors import RedisUnavailable
from pipeline.retention import trim_all
from pipeline.stats import OUTCOMES, Stats, collect_stats
from workers.clikit import fail, load_settings, require_redis

dead_app = typer.Typer(help="Inspect, retry and purge dead-lettered entries.", no_args_is_help=True)
_console = Console(highlight=False)


def stats(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object for scripts.")] = False,
) -> None:
    """Enqueued entries and their outcomes (total and per feed), queue, streams, groups."""
    settings = load_settings()
    try:
        snapshot = collect_stats(require_redis(settings), settings.feeds)
    except RedisUnavailable as exc:
        fail(str(exc))
    if as_json:
        payload = {**asdict(snapshot), "in_flight": snapshot.in_flight}
        sys.stdout.write(msgspec.json.encode(payload).decode() + "\n")
        return
    _print_stats(snapshot)


def _print_stats(snapshot: Stats) -> None:
    totals = " · ".join(f"{snapshot.outcomes.get(n, 0)} {n}" for n in OUTCOMES)
    _console.print(
        f"[bold]{snapshot.enqueued} enqueued[/bold]: {totals} · "
        f"{snapshot.in_flight} in flight · queue {snapshot.queue_depth}"
    )
    _console.print("streams: " + ", ".join(f"{k} {v}" for k, v in snapshot.streams.items()))
    for group in snapshot.groups:
        _console.print(
            f"group {group['name']}: {group['consumers']} consumers, "
            f"{group['pending']} pending, lag {group['lag']}"
        )
    table = Table("feed", "status", "errors", "last poll", "next poll", *OUTCOMES, "enqueued")
    now = time.time()
    for feed in snapshot.feeds:
        table.add_row(
            feed.name or feed.url,
            feed.status,
            str(feed.error_streak),
            _ago(feed.last_poll, now),
            _ago(feed.next_poll, now),
            *(str(feed.counts.get(n, 0)) for n in OUTCOMES),
            str(feed.counts.get("enqueued", 0)),
        )
    _console.print(table)


def _ago(when: float | None, now: float) -> str:
    if when is None:
        return "-"
    delta = int(when - now)
    return f"in {delta} s" if delta >= 0 else f"{-delta} s ago"


def trim() -> None:
    """Trim the streams to their age and length limits, behind every consumer group."""
    settings = load_settings()
    client = require_redis(settings)
    try:
        results = trim_all(
            client, max_len=settings.stream_maxlen, max_age_s=settings.stream_max_age_s
        )
    except RedisUnavailable as exc:
        fail(str(exc))
    for result in results:
        held = " (held back by a consumer group)" if result.held_by_groups else ""
        typer.echo(f"{result.stream}: deleted {result.deleted}{held}")


@dead_app.command("list")
def dead_list(
    count: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
) -> None:
    """Show dead letters: reason, attempts, URL and error."""
    settings = load_settings()
    for letter in list_dead(require_redis(settings), count=count):
        if as_json:
            row: dict[str, Any] = {"stream_id": letter.stream_id, **letter.fields}
            sys.stdout.write(msgspec.json.encode(row).decode() + "\n")
        else:
            f = letter.fields
            typer.echo(
                f"{letter.stream_id}  {f.get('reason', '')}  attempts={f.get('attempts', '')}"
                f"  {f.get('url', '')}\n    {f.get('error', '')[:200]}"
            )


@dead_app.command("retry")
def dead_retry(
    stream_ids: Annotated[list[str], typer.Argument(help="Dead-letter stream ids.")],
) -> None:
    """Enqueue dead-lettered entries again (their outcome is forgotten first)."""
    settings = load_settings()
    client = require_redis(settings)
    from workers.poller import enqueue_entry

    missing = 0
    for stream_id in stream_ids:
        entry = reopen_dead(client, stream_id)
        if entry is None:
            missing += 1
            typer.echo(f"{stream_id}: not a dead letter (already retried or purged)", err=True)
            continue
        enqueue_entry(entry)
        typer.echo(f"{stream_id}: enqueued {entry.url}")
    if missing:
        raise typer.Exit(1)


@dead_app.command("purge")
def dead_purge(
    older_than_days: Annotated[float | None, typer.Option(help="Only older entries.")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
) -> None:
    """Delete dead letters (their outcomes stay recorded)."""
    settings = load_settings()
    client = require_redis(settings)
    if not yes and not typer.confirm("Delete dead letters?"):
        raise typer.Exit(1)
    before = (
        None if older_than_days is None else int((time.time() - older_than_days * 86400) * 1000)
    )
    typer.echo(f"deleted {purge_dead(client, before_ms=before)} dead letters")
