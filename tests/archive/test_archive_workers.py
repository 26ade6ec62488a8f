"""The archive written by real Celery workers: two workers of two processes each archive the
sample site's pages into one folder, each process into files of its own, finished when the
workers stop."""

from __future__ import annotations

import signal
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import redis

from pipeline.archive.store import Store
from pipeline.archive.warc import read_pages
from pipeline.local.redis_server import RedisServer
from pipeline.local.site import LocalSite
from pipeline.streams.tail import outcome_counts
from tests.commands import poll_once, wait_for, worker_env, write_feeds
from tests.factories import SAMPLE_EXPECTED as EXPECTED


def test_workers_archive_every_page_once_in_files_of_their_own(
    redis_server: RedisServer,
    redis_client: redis.Redis,
    sample_site: LocalSite,
    start_worker: Any,
    tmp_path: Path,
) -> None:
    write_feeds(tmp_path / "config", [sample_site.url(p) for p in EXPECTED["feeds"]])
    env = worker_env(redis_server.url, tmp_path / "config")
    workers: list[subprocess.Popen[bytes]] = [start_worker(env, "-n", f"w{i}@%h") for i in (1, 2)]
    poll_once(env)
    want = len(EXPECTED["published"]) + EXPECTED["duplicates"]
    wait_for(lambda: sum(outcome_counts(redis_client).values()) >= want, 90, "all outcomes")
    for worker in workers:
        worker.send_signal(signal.SIGTERM)  # warm shutdown: each pool process finishes its file
    for worker in workers:
        worker.wait(timeout=60)

    store = Store(env["NEWSFLOW_ARCHIVE_URL"])
    assert store.files(include_open=True) == store.files()  # every file finished
    pages = []
    for f in store.files():
        with store.open(f.name) as fh:
            pages += [(f.name, p) for p in read_pages(fh, f.name)]
    # An URL in two feeds is fetched by two tasks; the one that loses the outcome claim
    # records "already" (archived too: it reached extraction).
    outcomes = Counter(p.produced.outcome for _, p in pages)
    assert outcomes["published"] == len(EXPECTED["published"]) and outcomes["duplicate"] == 1
    assert set(outcomes) <= {"published", "duplicate", "already"}
    published = [p.produced.article_id for _, p in pages if p.produced.outcome == "published"]
    assert len(set(published)) == len(published)
    assert {p.page.url for _, p in pages} == {
        p.page.url for _, p in pages if p.produced.outcome != "already"
    }
    writers = {name.rsplit("-", 2)[-2] for name, _ in pages}
    assert len(writers) >= 2, writers  # pages went through more than one process
    for _, archived in pages:
        assert archived.page.body and archived.page.status == 200
        assert any(name == "content-type" for name, _ in archived.page.headers)
