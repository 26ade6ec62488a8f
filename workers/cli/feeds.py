"""``newsflow feeds add|remove|list|import-opml|export-opml``: the feed registry."""

from __future__ import annotations

import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import msgspec
import typer
from rich.console import Console
from rich.progress import track
from rich.table import Table

from pipeline.errors import PipelineError
from pipeline.fetch.client import Fetcher
from pipeline.ops.stats import collect_stats
from pipeline.polling.discovery import parse_opml, render_opml
from pipeline.polling.registry import (
    add_feed,
    find_feeds,
    registered_feeds,
    remove_feed,
    seed_feeds,
)
from pipeline.settings import FeedConfig
from workers.cli.kit import fail, load_settings, require_redis
from workers.cli.output import duration, relative_time

feeds_app = typer.Typer(
    help="Manage the feeds the poller polls (a registry in Redis).", no_args_is_help=True
)
_console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)


@feeds_app.command("add")
def feeds_add(
    url: Annotated[
        str,
        typer.Argument(help="A feed or sitemap URL, or a site page to discover feeds on."),
    ],
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    interval: Annotated[int | None, typer.Option(help="Poll interval in seconds.")] = None,
    backlog: Annotated[
        bool,
        typer.Option(
            help="Also take the entries already in the feed (--no-backlog: only new ones)."
        ),
    ] = True,
    header: Annotated[
        list[str] | None,
        typer.Option(help="'Name: value' sent with the feed's and its articles' requests; repeat."),
    ] = None,
    proxy: Annotated[str, typer.Option(help="http(s) proxy for this feed and its articles.")] = "",
) -> None:
    """Add a feed or sitemap; a homepage URL adds the feeds it declares (or its well-known feed
    paths; for a site root with neither, the sitemaps its robots.txt declares)."""
    headers = _parse_headers(header or [])
    settings = load_settings()
    client = require_redis(settings)
    fetcher = Fetcher(settings.fetch)
    try:
        found = find_feeds(fetcher, url)
    except PipelineError as exc:
        fail(f"cannot read {url}: {exc}")
    finally:
        fetcher.close()
    if not found:
        fail(
            f"no feed found at {url} (not a feed or sitemap, no <link rel=alternate>, no "
            "well-known feed path, and for a site root no Sitemap: line in robots.txt)"
        )
    for feed_url in found:
        feed = _feed_config(
            url=feed_url,
            name=name,
            interval_s=interval,
            backlog=backlog,
            headers=headers,
            proxy=proxy,
        )
        new = add_feed(client, feed)
        typer.echo(f"{'added' if new else 'updated'} {feed_url}")


def _parse_headers(values: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for value in values:
        name, colon, text = value.partition(":")
        if not colon or not name.strip():
            fail(f"--header must be 'Name: value', got {value!r}", 2)
        headers[name.strip()] = text.strip()
    return headers


def _feed_config(**fields: Any) -> FeedConfig:
    try:
        return FeedConfig(**fields)
    except ValueError as exc:
        fail(f"invalid feed: {exc}", 2)


@feeds_app.command("remove")
def feeds_remove(url: Annotated[str, typer.Argument(help="The feed URL.")]) -> None:
    """Stop polling a feed (its history and counters stay)."""
    settings = load_settings()
    if not remove_feed(require_redis(settings), url):
        fail(f"not registered: {url}")
    typer.echo(f"removed {url}")


@feeds_app.command("list")
def feeds_list(
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
) -> None:
    """Every feed with its last poll, status, items seen, error streak, interval, next poll."""
    settings = load_settings()
    client = require_redis(settings)
    seed_feeds(client, settings.feeds)
    feeds = collect_stats(client, registered_feeds(client)).feeds
    if as_json:
        for feed in feeds:
            sys.stdout.write(msgspec.json.encode(asdict(feed)).decode() + "\n")
        return
    table = Table("feed", "status", "items seen", "errors", "interval", "last poll", "next poll")
    now = time.time()
    for feed in feeds:
        moved = f"\n(moved from {feed.moved_from})" if feed.moved_from else ""
        pushed = " · push" if feed.push_until else ""
        table.add_row(
            (feed.name or feed.url) + moved,
            feed.status + pushed,
            str(feed.items_seen),
            str(feed.error_streak),
            duration(feed.interval_s),
            relative_time(feed.last_poll, now),
            relative_time(feed.next_poll, now),
        )
    _console.print(table)


@feeds_app.command("import-opml")
def feeds_import_opml(path: Annotated[Path, typer.Argument(help="An OPML file.")]) -> None:
    """Register every feed of an OPML file."""
    settings = load_settings()
    client = require_redis(settings)
    try:
        feeds = parse_opml(path.read_bytes())
    except (OSError, PipelineError) as exc:
        fail(f"cannot import {path}: {exc}")
    added = sum(
        add_feed(client, f)
        for f in track(feeds, description="importing", console=Console(stderr=True))
    )
    typer.echo(f"{len(feeds)} feeds in {path}, {added} new")


@feeds_app.command("export-opml")
def feeds_export_opml(
    path: Annotated[Path | None, typer.Argument(help="Output file (default: stdout).")] = None,
) -> None:
    """Write the registered feeds as OPML."""
    settings = load_settings()
    client = require_redis(settings)
    seed_feeds(client, settings.feeds)
    document = render_opml(list(registered_feeds(client)))
    if path is None:
        sys.stdout.write(document)
    else:
        path.write_text(document, encoding="utf-8")
