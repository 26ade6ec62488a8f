"""The ``newsflow`` command line."""

from __future__ import annotations

import gzip
import importlib
import importlib.util
import logging
import os
import sys
from typing import Annotated, Any

import msgspec
import typer

from pipeline.errors import ConfigError, PipelineError, RedisUnavailable
from workers.cli.consume import consume, replay
from workers.cli.feeds import feeds_app
from workers.cli.kit import (
    fail,
    load_settings,
    prepare_metrics_dir,
    require_redis,
    stop_on_signals,
)
from workers.cli.ops import dead_app, doctor, stats, trim
from workers.logs import configure_logging

app = typer.Typer(
    name="newsflow",
    no_args_is_help=True,
    add_completion=False,
    help="Streaming ingestion of news articles: feeds -> workers -> Redis Streams.",
)
log = logging.getLogger("newsflow")
_PASSTHROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}


@app.command(context_settings=_PASSTHROUGH)
def worker(ctx: typer.Context) -> None:
    """Run a Celery worker (prefork). Extra options go to `celery worker`."""
    settings = load_settings()
    require_redis(settings).close()
    prepare_metrics_dir()  # before anything imports prometheus_client
    from pipeline import keys
    from workers.app import app as celery_app
    from workers.metrics import serve_worker_metrics

    serve_worker_metrics(settings.metrics.worker_port)

    argv = ["worker", "-P", "prefork", "-Q", keys.CELERY_QUEUE, *ctx.args]
    if settings.worker.concurrency and not any(a.startswith(("-c", "--concurrency")) for a in argv):
        argv += ["--concurrency", str(settings.worker.concurrency)]
    celery_app.worker_main(argv)


@app.command()
def poller(
    once: Annotated[bool, typer.Option(help="Poll every enabled feed once, then exit.")] = False,
) -> None:
    """Poll the configured feeds and enqueue new entries."""
    # One process: its metrics live in memory. A folder shared with a worker's processes
    # would be emptied under it when that worker starts.
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    settings = load_settings()
    client = require_redis(settings)
    from workers.poller import poll_once, run_poller

    if once:
        from pipeline.polling.registry import registered_feeds, seed_feeds

        seed_feeds(client, settings.feeds)
        enabled = tuple(f for f in registered_feeds(client) if f.enabled)
        poll_once(enabled, client=client, settings=settings)
        return
    from workers.metrics import serve_poller_metrics

    serve_poller_metrics(settings.metrics.poller_port, client, settings)
    run_poller(settings, client, stop_on_signals())


@app.command()
def tail(
    start: Annotated[str, typer.Option("--from", help="Stream id, 0 for all, $ for new.")] = "$",
    count: Annotated[int | None, typer.Option(help="Stop after N articles.")] = None,
    pretty: Annotated[bool, typer.Option(help="Human-readable output.")] = False,
) -> None:
    """Print articles from the stream as they arrive, one JSON object per line."""
    from pipeline.streams.tail import read_articles
    from workers.cli.output import print_article

    settings = load_settings()
    client = require_redis(settings)
    stop = stop_on_signals()
    seen = 0
    try:
        for item in read_articles(client, start=start):
            if stop.is_set() or (count is not None and seen >= count):
                break
            if item is not None:
                print_article(item.article, pretty=pretty)
                seen += 1
    except RedisUnavailable as exc:
        fail(str(exc))


@app.command()
def extract(
    inputs: Annotated[list[str], typer.Argument(help="HTML files (.html, .html.gz) or URLs.")],
    base_url: Annotated[str | None, typer.Option(help="URL the files were fetched from.")] = None,
) -> None:
    """Extract articles from files or URLs without Redis or Celery (one JSON line each)."""
    from pipeline.article.standalone import extract_input

    settings = load_settings()
    failures = 0
    for item in inputs:
        try:
            line: dict[str, Any] = {
                "input": item,
                "article": extract_input(item, settings, base_url),
            }
        except (PipelineError, OSError, EOFError, gzip.BadGzipFile) as exc:
            failures += 1
            line = {"input": item, "error": f"{getattr(exc, 'reason', 'io_error')}: {exc}"}
        sys.stdout.write(msgspec.json.encode(line).decode() + "\n")
    if failures:
        raise typer.Exit(1)


@app.command()
def run(
    workers: Annotated[int, typer.Option(help="Worker processes (pool size).")] = 2,
) -> None:
    """Run everything on this machine: Redis (embedded unless REDIS_URL), a worker, the poller."""
    from workers.cli.local import run_local

    settings = load_settings()
    raise typer.Exit(run_local(settings, concurrency=workers))


@app.command()
def demo(
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 180.0,
) -> None:
    """Run the whole pipeline against a bundled sample site; exit 0 when all articles landed."""
    from workers.cli.local import run_demo

    configure_logging("WARNING", json_lines=False)
    raise typer.Exit(run_demo(timeout_s=timeout))


@app.command()
def schema(
    version: Annotated[int, typer.Option(help="Entry contract version.")] = 1,
) -> None:
    """Print the JSON Schema of the stream entry contract (the file shipped in the package)."""
    from pipeline.schemas import VERSIONS, schema_text

    if version not in VERSIONS:
        fail(
            f"no schema for contract version {version} (known: {', '.join(map(str, VERSIONS))})", 2
        )
    sys.stdout.write(schema_text(version))


app.command()(consume)
app.command()(replay)
app.command()(stats)
app.command()(doctor)
app.command()(trim)
app.add_typer(dead_app, name="dead")
app.add_typer(feeds_app, name="feeds")
app.command()(importlib.import_module("workers.cli.websub").websub)
app.command("reextract")(importlib.import_module("workers.cli.reextract").reextract_command)


def add_bench_commands(root: typer.Typer) -> None:
    """Add ``newsflow bench`` where the ``bench`` package exists (a checkout, not the image)."""
    if importlib.util.find_spec("bench") is None:
        return
    root.add_typer(importlib.import_module("bench.cli").bench_app, name="bench")


add_bench_commands(app)


def main() -> None:
    """Console-script entry point: a configuration error anywhere exits 2, naming the setting."""
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    try:
        app()
    except ConfigError as exc:
        typer.echo(f"newsflow: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
