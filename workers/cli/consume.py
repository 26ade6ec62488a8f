"""``newsflow consume`` and ``newsflow replay``: consumer groups from the command line.

Plain typer command functions; workers/cli/main.py registers them on the ``newsflow`` app.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
from typing import Annotated, Any

import redis
import typer

from pipeline import keys
from pipeline.errors import ConfigError, RedisUnavailable
from pipeline.streams.consumer import Consumer, Delivery, ensure_group
from pipeline.streams.replay import count_entries, read_range, rewind_group, stream_position
from workers.cli.kit import fail, load_settings, require_redis

log = logging.getLogger("newsflow.consume")
_PROGRESS_OVER = 1000


def consume(
    group: Annotated[str, typer.Option(help="Consumer group; created at the stream start.")],
    command: Annotated[
        list[str], typer.Argument(help="Run once per entry, with the article JSON on stdin.")
    ],
    consumer: Annotated[
        str | None, typer.Option(help="Stable consumer name (default: this host's name).")
    ] = None,
    min_idle: Annotated[
        float, typer.Option(min=0, help="Seconds before an unacked entry is redelivered.")
    ] = 60.0,
    max_deliveries: Annotated[
        int, typer.Option(min=1, help="Deliveries before an entry goes to newsflow:dead.")
    ] = 5,
    once: Annotated[
        bool, typer.Option(help="Stop when no entry arrives within one block (cron, tests).")
    ] = False,
) -> None:
    """Run COMMAND for each article of the stream: exit 0 acks it, anything else retries it.

    Usage: newsflow consume --group G [--consumer C] -- COMMAND [ARGS...]. The command also
    gets NEWSFLOW_STREAM_ID, NEWSFLOW_ARTICLE_ID and NEWSFLOW_DELIVERIES in its environment.
    SIGINT/SIGTERM: finish the current entry, then exit 0.
    """
    if shutil.which(command[0]) is None:
        fail(f"command not found: {command[0]}", code=2)
    settings = load_settings()
    client = require_redis(settings)
    reader = Consumer(
        client,
        group,
        consumer,
        min_idle_ms=int(min_idle * 1000),
        claim_every_s=min(10.0, max(min_idle, 0.1)),
        max_deliveries=max_deliveries,
        count=1,  # no read-ahead: each entry goes to whichever consumer is free
    )
    _stop_on_signals(reader)
    try:
        ensure_group(client, group, stream=keys.ARTICLES_STREAM)
        for delivery in reader.deliveries(stop_when_idle=once):
            _handle(reader, delivery, command)
    except RedisUnavailable as exc:
        fail(str(exc))
    finally:
        client.close()
    log.info(
        "consumer %s of %s stopped (trimmed %d, dead-lettered %d)",
        reader.name,
        group,
        reader.trimmed,
        reader.dead_lettered,
    )


def replay(
    since: Annotated[
        str, typer.Option(help="ISO 8601 time (2026-11-20T00:00:00Z), stream id or ms.")
    ],
    group: Annotated[
        str | None, typer.Option(help="Rewind this group so its consumers reprocess from SINCE.")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Last time or id to print (only without --group).")
    ] = None,
) -> None:
    """Reprocess history: rewind a consumer group, or print past articles as JSON lines."""
    start = _position(since, "--since")
    end = _position(until, "--until", end=True) if until else "+"
    if group and until:
        raise typer.BadParameter("applies only without --group", param_hint="--until")
    settings = load_settings()
    client = require_redis(settings)
    try:
        if group:
            exposed = rewind_group(client, group, start, stream=keys.ARTICLES_STREAM)
            typer.echo(f"group {group}: {exposed} entries re-exposed from {start}")
        else:
            _print_range(client, start, end)
    except RedisUnavailable as exc:
        fail(str(exc))
    except ConfigError as exc:
        fail(str(exc), code=2)
    finally:
        client.close()


def _handle(reader: Consumer, delivery: Delivery, command: list[str]) -> None:
    code, error = _run(command, delivery)
    if code == 0:
        reader.ack(delivery)
    else:
        reader.fail(delivery, error)
    log.info(
        "entry %s article %s delivery %d: exit %d, %s",
        delivery.stream_id,
        delivery.article_id,
        delivery.deliveries,
        code,
        "acked" if code == 0 else "left pending",
    )


def _run(command: list[str], delivery: Delivery) -> tuple[int, str]:
    """Run the command on one entry: (exit code, error text for a dead letter)."""
    env = {
        **os.environ,
        "NEWSFLOW_STREAM_ID": delivery.stream_id,
        "NEWSFLOW_ARTICLE_ID": delivery.article_id,
        "NEWSFLOW_DELIVERIES": str(delivery.deliveries),
    }
    body = delivery.fields.get("body", b"")
    try:
        done = subprocess.run(command, input=body, env=env, check=False)
    except OSError as exc:
        return 127, f"cannot run {command[0]}: {exc}"
    if done.returncode < 0:
        return done.returncode, f"killed by signal {-done.returncode}"
    return done.returncode, f"exit status {done.returncode}"


def _print_range(client: redis.Redis, start: str, end: str) -> None:
    from workers.cli.output import print_article

    articles = read_range(client, start, end, stream=keys.ARTICLES_STREAM)
    show_progress = sys.stderr.isatty() and not sys.stdout.isatty()
    total = count_entries(client, start, end) if show_progress else 0
    if total <= _PROGRESS_OVER:
        for _, article in articles:
            print_article(article, pretty=False)
        return
    from rich.console import Console
    from rich.progress import Progress

    progress = Progress(
        console=Console(stderr=True), transient=True, redirect_stdout=False, redirect_stderr=False
    )
    with progress:
        task = progress.add_task("replay", total=total)
        for _, article in articles:
            print_article(article, pretty=False)
            progress.advance(task)


def _position(text: str, option: str, *, end: bool = False) -> str:
    try:
        return stream_position(text, end=end)
    except ValueError as exc:
        raise typer.BadParameter(
            f"{text!r} is not an ISO 8601 time, stream id or ms timestamp", param_hint=option
        ) from exc


def _stop_on_signals(reader: Consumer) -> None:
    def handler(signum: int, _frame: Any) -> None:
        reader.stop()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
