"""One-machine orchestration: ``newsflow run`` and ``newsflow demo``."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from pipeline.connection import connect_redis, mask_url
from pipeline.errors import PipelineError
from pipeline.local.redis_server import RedisServer, start_redis, write_private
from pipeline.local.site import LocalSite, sample_site_dir
from pipeline.settings import Settings
from pipeline.streams.tail import outcome_counts, read_articles
from workers.cli.output import print_article
from workers.resources import EMBEDDED_URL_FILE
from workers.supervise import Child, child_env, newsflow_command, stop_children, supervise

log = logging.getLogger(__name__)


def run_local(settings: Settings, *, concurrency: int) -> int:
    """Run Redis (embedded unless one is configured), a worker and the poller until a signal.

    The embedded redis-server requires the password kept beside its data
    (``<data_dir>/redis/requirepass.conf``); the children get it in their Redis URL, and
    ``<data_dir>/redis.url`` (mode 0600) gives it to other commands run in this folder.
    """
    stop_signals: list[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda s, _f: stop_signals.append(s))
    server = None
    url = settings.redis_url
    url_file = Path(settings.data_dir) / EMBEDDED_URL_FILE
    if not _redis_configured(settings):
        server = start_redis(Path(settings.data_dir) / "redis", persistent=True, password=True)
        url = server.url
        write_private(url_file, url + "\n")
        log.info("embedded redis-server on %s (data in %s)", mask_url(url), server.data_dir)
    env = child_env({"NEWSFLOW_REDIS_URL": url})
    children = [
        Child("worker", newsflow_command("worker", "--concurrency", str(concurrency)), env),
        Child("poller", newsflow_command("poller"), env),
    ]
    log.info("newsflow running on %s; Ctrl-C to stop", mask_url(url))
    try:
        return supervise(children, stop_signals)
    finally:
        stop_children(children)
        if server is not None:
            server.stop()
            url_file.unlink(missing_ok=True)


def _redis_configured(settings: Settings) -> bool:
    """True when the environment or config/ names a Redis (the embedded URL file does not)."""
    return bool(Settings.load(os.environ).redis_url)


def run_demo(*, timeout_s: float) -> int:
    """Serve the sample site, run the pipeline on it, print articles; 0 when all landed.

    The screen shows the articles and a summary only: the worker's and the poller's output
    (Celery's banner, warnings, logs) go to a log file kept after the demo, named at the end.
    """
    console = Console(highlight=False)
    expected = json.loads((sample_site_dir() / "expected.json").read_text(encoding="utf-8"))
    tmp = Path(tempfile.mkdtemp(prefix="newsflow-demo-"))
    fd, name = tempfile.mkstemp(prefix="newsflow-demo-", suffix=".log")
    os.close(fd)
    log_file = Path(name)
    server: RedisServer | None = None
    site = LocalSite(sample_site_dir()).start()
    children: list[Child] = []
    try:
        server = start_redis(tmp / "redis", persistent=False, password=True)
        env = _demo_env(tmp, server.url, [site.url(path) for path in expected["feeds"]])
        worker = newsflow_command("worker", "-c", "2", "--loglevel", "INFO")
        children = [
            Child("worker", worker, env, log_file=log_file),
            Child("poller", newsflow_command("poller", "--once"), env, log_file=log_file),
        ]
        for child in children:
            child.start()
        console.print(
            f"[bold]newsflow demo[/bold]: sample site at {site.base_url}, "
            f"redis at {mask_url(server.url)}\n"
        )
        return _await_articles(console, server.url, expected, timeout_s)
    except PipelineError as exc:
        console.print(f"[red]demo failed: {exc}[/red]")
        return 1
    finally:
        stop_children(children, grace_s=20)
        site.stop()
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        console.print(
            f"logs of the worker and the poller: {log_file}", markup=False, soft_wrap=True
        )


def _demo_env(tmp: Path, redis_url: str, feed_urls: list[str]) -> dict[str, str]:
    feeds = "".join(f'[[feeds]]\nurl = "{url}"\n\n' for url in feed_urls)
    (tmp / "feeds.toml").write_text(feeds, encoding="utf-8")
    return child_env(
        {
            "NEWSFLOW_REDIS_URL": redis_url,
            "NEWSFLOW_CONFIG_DIR": str(tmp),
            "NEWSFLOW_FETCH_ALLOW": "127.0.0.0/8",
            "NEWSFLOW_FETCH_RATE_PER_HOST": "20",
            "NEWSFLOW_LOG_LEVEL": "INFO",
        }
    )


def _await_articles(console: Console, url: str, expected: dict[str, Any], timeout_s: float) -> int:
    client = connect_redis(url)
    want_published = len(expected["published"])
    want_total = want_published + int(expected["duplicates"])
    deadline = time.monotonic() + timeout_s
    for item in read_articles(client, start="0", block_ms=500):
        if item is not None:
            print_article(item.article, pretty=True)
        counts = outcome_counts(client)
        if sum(counts.values()) >= want_total and counts.get("published", 0) >= want_published:
            console.print(f"[green]done[/green]: {_summary(counts)}")
            ok = counts.get("published") == want_published
            return 0 if ok else 1
        if time.monotonic() > deadline:
            console.print(f"[red]timed out after {timeout_s:.0f} s[/red]: {_summary(counts)}")
            return 1
    return 1


def _summary(counts: dict[str, int]) -> str:
    order = ("published", "duplicate", "dropped", "dead")
    return ", ".join(f"{counts.get(name, 0)} {name}" for name in order)
