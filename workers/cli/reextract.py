"""``newsflow reextract``: archived pages through today's extraction (pipeline/ops/reextract.py)."""

from __future__ import annotations

import dataclasses
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from pipeline.archive.store import Store
from pipeline.errors import ArchiveError, RedisUnavailable
from pipeline.ops.reextract import Selection, Tally, parse_point, reextract
from pipeline.process import Services
from workers.cli.kit import fail, load_settings, require_redis

_out = Console(highlight=False, soft_wrap=True)


def reextract_command(
    since: Annotated[
        str, typer.Option(help="From this fetch time (ISO 8601, UTC unless it says) or stream id.")
    ],
    until: Annotated[str, typer.Option(help="Up to (not including) this time or stream id.")] = "",
    source: Annotated[str, typer.Option(help="Only pages of this domain (and subdomains).")] = "",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Publish nothing: print what would change.")
    ] = False,
    restart: Annotated[
        bool, typer.Option("--restart", help="Forget this selection's checkpoint: run it again.")
    ] = False,
) -> None:
    """Extract archived pages again with today's extraction; publish article.updated
    (reason=reextract) for the published articles whose fields changed. Resumable: the same
    command continues where it stopped."""
    try:
        selection = Selection(
            since=parse_point(since),
            until=parse_point(until) if until else None,
            source=source,
        )
    except ValueError as exc:
        fail(f"--since/--until: not a time or stream id ({exc})", code=2)
    settings = load_settings()
    client = require_redis(settings)
    quiet = dataclasses.replace(settings.archive, enabled=False)  # reading, not writing
    services = Services.build(settings.replace(archive=quiet), client)
    try:
        store = Store.of(settings.archive, settings.data_dir)
        with _Bar() as bar:
            tally = reextract(
                store, services, selection, dry_run=dry_run, restart=restart, progress=bar.update
            )
    except (ArchiveError, RedisUnavailable) as exc:
        fail(str(exc))
    finally:
        services.close()
    _print(tally, dry_run, store.url)


class _Bar:
    """A rich progress bar per pass, by archive bytes read, with pages/s and ETA."""

    def __init__(self) -> None:
        self._progress = Progress(
            TextColumn("{task.description:<8}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[pages]} pages {task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self._tasks: dict[str, TaskID] = {}
        self._started: dict[str, float] = {}

    def __enter__(self) -> _Bar:
        self._progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._progress.stop()

    def update(self, phase: str, done: int, total: int, pages: int) -> None:
        if phase not in self._tasks:
            self._tasks[phase] = self._progress.add_task(phase, total=total, pages=0, rate="")
            self._started[phase] = time.monotonic()
        elapsed = max(time.monotonic() - self._started[phase], 1e-6)
        rate = f"({pages / elapsed:,.1f}/s)"
        self._progress.update(self._tasks[phase], completed=done, pages=pages, rate=rate)


def _print(tally: Tally, dry_run: bool, where: str) -> None:
    if tally.done:
        _out.print(
            "[bold]already done[/]: this selection ran to the end before (--restart runs it again)"
        )
    verb = "would be updated" if dry_run else "updated (article.updated, reason=reextract)"
    fields = ", ".join(f"{name} {count}" for name, count in tally.fields.most_common()) or "none"
    _out.print(f"archive {where}: {tally.pages} pages in the selection")
    _out.print(f"  {tally.articles} articles extracted again; {tally.updated} {verb}")
    _out.print(f"  {tally.unchanged} unchanged, {tally.dropped} dropped by today's extraction")
    _out.print(
        f"  {tally.unknown} no longer on record (older than dedupe_ttl_s), "
        f"{tally.superseded} older pages of an article skipped"
    )
    _out.print(f"  fields changed: {fields}")
    _out.print(f"  words gained {tally.words_gained:,}, lost {tally.words_lost:,}")
