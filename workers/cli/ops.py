"""Operator commands: ``newsflow stats``, ``newsflow trim``, ``newsflow dead ...``."""

from __future__ import annotations

import sys
import time
from dataclasses import asdict
from typing import Annotated, Any

import msgspec
import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from pipeline.connection import connect_redis
from pipeline.errors import RedisUnavailable
from pipeline.ops.doctor import run_checks
from pipeline.ops.drift import live_alarms
from pipeline.ops.lag import read_group_lags, rounds_held
from pipeline.ops.stats import OUTCOMES, Stats, collect_stats
from pipeline.polling.registry import registered_feeds
from pipeline.streams.deadletter import (
    CONSUMER_DEAD,
    consumer_retry_hint,
    get_dead,
    list_dead,
    purge_dead,
    reopen_dead,
)
from pipeline.streams.retention import trim_all
from workers.cli.kit import fail, load_settings, require_redis
from workers.cli.output import relative_time

dead_app = typer.Typer(help="Inspect, retry and purge dead-lettered entries.", no_args_is_help=True)
_console = Console(highlight=False)


def stats(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object for scripts.")] = False,
    watch: Annotated[float, typer.Option(help="Refresh every N seconds (live view).")] = 0,
) -> None:
    """Enqueued entries and their outcomes (total and per feed), queue, streams, groups."""
    settings = load_settings()
    client = require_redis(settings)
    try:
        feeds = registered_feeds(client) or settings.feeds
        snapshot = collect_stats(client, feeds)
        drifting = sorted(live_alarms(client).values(), key=lambda a: (a.source, a.signal))
        poller = settings.poller
        lags = read_group_lags(client, poller.lag_groups, poller.max_group_lag)
        held = rounds_held(client)
        if as_json:
            payload = {**asdict(snapshot), "in_flight": snapshot.in_flight}
            payload["drift"] = [asdict(a) for a in drifting]
            payload["lag_groups"] = [{**asdict(g), "holds": g.holds} for g in lags]
            payload["rounds_held_for_lag"] = held
            sys.stdout.write(msgspec.json.encode(payload).decode() + "\n")
        elif watch > 0:
            _watch(client, feeds, snapshot, watch)
        else:
            _console.print(_render(snapshot, None, 0))
            for alarm in drifting:
                _console.print(f"drift: {alarm.signal} {alarm.describe()}", markup=False)
            for lag in lags:
                state = "polling paused" if lag.holds else "ok"
                _console.print(f"lag gate: {lag.describe()}: {state}", markup=False)
            if lags or held:
                _console.print(f"poll rounds held for consumer lag: {held}", markup=False)
    except RedisUnavailable as exc:
        fail(str(exc))


def _watch(client: Any, feeds: Any, first: Stats, every: float) -> None:
    previous = first
    with Live(_render(first, None, every), console=_console, refresh_per_second=4) as live:
        try:
            while True:
                time.sleep(every)
                current = collect_stats(client, feeds)
                live.update(_render(current, previous, every))
                previous = current
        except KeyboardInterrupt:
            return


def _render(snapshot: Stats, previous: Stats | None, every: float) -> Group:
    totals = " · ".join(f"{snapshot.outcomes.get(n, 0)} {n}" for n in OUTCOMES)
    lines: list[Any] = [
        f"[bold]{snapshot.enqueued} enqueued[/bold]: {totals} · "
        f"{snapshot.in_flight} in flight · queue {snapshot.queue_depth}"
    ]
    if previous is not None and every > 0:
        rates = " · ".join(
            f"{(snapshot.outcomes.get(n, 0) - previous.outcomes.get(n, 0)) / every:.1f}/s {n}"
            for n in OUTCOMES
        )
        lines.append(f"rates: {rates}")
    lines.append("streams: " + ", ".join(f"{k} {v}" for k, v in snapshot.streams.items()))
    lines += [
        f"group {g['name']}: {g['consumers']} consumers, {g['pending']} pending, lag {g['lag']}"
        for g in snapshot.groups
    ]
    lines.append(_feed_table(snapshot))
    return Group(*lines)


def _feed_table(snapshot: Stats) -> Table:
    table = Table("feed", "status", "errors", "last poll", "next poll", *OUTCOMES, "enqueued")
    now = time.time()
    for feed in snapshot.feeds:
        table.add_row(
            feed.name or feed.url,
            feed.status,
            str(feed.error_streak),
            relative_time(feed.last_poll, now),
            relative_time(feed.next_poll, now),
            *(str(feed.counts.get(n, 0)) for n in OUTCOMES),
            str(feed.counts.get("enqueued", 0)),
        )
    return table


def doctor(
    poller: Annotated[
        bool,
        typer.Option(
            "--poller",
            help="Only check that a poller process on this host runs its loop (active or "
            "standby): the poller container's healthcheck.",
        ),
    ] = False,
) -> None:
    """Check Redis (reachability, version, persistence, memory policy), the configuration,
    the registered feeds and the pollers."""
    import socket

    import redis
    from rich.markup import escape

    from pipeline.ops.doctor import Finding, poller_alive

    settings = load_settings()
    try:
        client = connect_redis(settings.redis_url, timeout_s=5.0)
    except RedisUnavailable:
        client = None
    if poller:
        findings = run_checks(settings, client)[:1] if client is None else []
        if client is not None:
            try:
                findings = [poller_alive(client, socket.gethostname())]
            except redis.RedisError as exc:
                findings = [Finding(check="redis", level="error", detail=str(exc))]
    else:
        findings = run_checks(settings, client)
    colors = {"ok": "green", "warn": "yellow", "error": "red"}
    for finding in findings:
        color = colors[finding.level]
        # The detail and fix are plain text: "[[feeds]]" is not rich markup.
        _console.print(
            f"[{color}]{finding.level:>5}[/{color}]  {escape(finding.check)}: "
            f"{escape(finding.detail)}",
            soft_wrap=True,
        )
        if finding.fix:
            _console.print(f"{'':>8}fix: {finding.fix}", soft_wrap=True, markup=False)
    if any(f.level == "error" for f in findings):
        raise typer.Exit(1)


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
    """Show dead letters: id (for retry/purge), type, reason, attempts, URL and error.

    With --json, one object per dead letter: `dead_id` (its id in newsflow:dead) and its fields;
    a consumer dead letter's `stream_id` is printed as `source_stream_id`.
    """
    settings = load_settings()
    for letter in list_dead(require_redis(settings), count=count):
        if as_json:
            sys.stdout.write(msgspec.json.encode(letter.as_json()).decode() + "\n")
        else:
            f = letter.fields
            where = (
                f"  group={f.get('group', '')} source_stream_id={f.get('stream_id', '')}"
                if letter.kind == CONSUMER_DEAD
                else ""
            )
            typer.echo(
                f"{letter.stream_id}  {letter.kind}  {f.get('reason', '')}"
                f"  attempts={f.get('attempts', '')}  {f.get('url', '')}{where}"
                f"\n    {f.get('error', '')[:200]}"
            )


@dead_app.command("retry")
def dead_retry(
    stream_ids: Annotated[list[str], typer.Argument(help="Dead-letter ids (`dead list`).")],
) -> None:
    """Enqueue dead-lettered entries again (their outcome is forgotten first).

    A consumer dead letter (type consumer_dead) is not enqueued: this says how to give it back
    to its consumer group (`newsflow replay --group G --since ID`), and exits 1.
    """
    settings = load_settings()
    client = require_redis(settings)
    from workers.poller import enqueue_entry

    not_retried = 0
    for stream_id in stream_ids:
        letter = get_dead(client, stream_id)
        if letter is not None and letter.kind == CONSUMER_DEAD:
            not_retried += 1
            typer.echo(f"{stream_id}: {consumer_retry_hint(client, letter)}", err=True)
            continue
        entry = reopen_dead(client, stream_id) if letter is not None else None
        if entry is None:
            not_retried += 1
            reason = (
                "not a dead letter (already retried or purged)"
                if letter is None
                else "its entry's outcome is no longer dead (expired or recorded since)"
            )
            typer.echo(f"{stream_id}: {reason}", err=True)
            continue
        enqueue_entry(entry, ledger=client)
        typer.echo(f"{stream_id}: enqueued {entry.url}")
    if not_retried:
        raise typer.Exit(1)


@dead_app.command("purge")
def dead_purge(
    stream_ids: Annotated[
        list[str] | None, typer.Argument(help="Only these dead-letter ids (`dead list`).")
    ] = None,
    older_than_days: Annotated[float | None, typer.Option(help="Only older entries.")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
) -> None:
    """Delete dead letters of both types: the given ids, or all (their outcomes stay recorded)."""
    settings = load_settings()
    client = require_redis(settings)
    if stream_ids and older_than_days is not None:
        fail("give dead-letter ids or --older-than-days, not both", 2)
    if not yes and not typer.confirm("Delete dead letters?"):
        raise typer.Exit(1)
    before = (
        None if older_than_days is None else int((time.time() - older_than_days * 86400) * 1000)
    )
    deleted = purge_dead(client, before_ms=before, stream_ids=stream_ids or ())
    typer.echo(f"deleted {deleted} dead letters")
