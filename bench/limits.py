"""The two references of ``newsflow bench pipeline``: extraction alone, and a naive loop.

- Extraction only: the bench's pages (already in memory) through newsflow's extraction
  (:func:`pipeline.article.standalone.extract_page`, after the same charset decoding as a
  fetch) in a pool of K processes, warmed up like the workers' pool; no fetch, broker or
  Redis. This is the work that cannot be avoided.
- Naive: one process, in a loop: feedparser, HTTP GET, ``trafilatura.extract(json)``, XADD.
  It deliberately uses the libraries directly, as a script without newsflow would (house
  rule 7 does not apply to a baseline), and writes to database 1 of the bench's Redis.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import time
from collections.abc import Sequence
from multiprocessing.queues import SimpleQueue
from multiprocessing.synchronize import Barrier
from typing import Any

from bench.corpus import CorpusPage, article_path, page_html
from bench.figures import Limit
from pipeline import keys
from pipeline.article.standalone import extract_page, page_from_html
from pipeline.errors import PipelineError
from pipeline.fetch.charset import decode_html
from pipeline.settings import Settings
from workers.warmup import warm_up

_pages: tuple[CorpusPage, ...] = ()


def extraction_limit(
    pages: tuple[CorpusPage, ...], indexes: Sequence[int], processes: int, settings: Settings
) -> Limit:
    """Extract the given articles in ``processes`` forked processes; wall and CPU time.

    Each process builds its pages and warms up exactly as a worker's pool processes do
    (:func:`workers.warmup.warm_up`) before a shared start.
    """
    global _pages
    _pages = pages
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(processes)
    results = ctx.SimpleQueue()
    workers = [
        ctx.Process(
            target=_extract_chunk, args=(list(indexes[k::processes]), barrier, settings, results)
        )
        for k in range(processes)
    ]
    for worker in workers:
        worker.start()
    timings = [results.get() for _ in workers]
    for worker in workers:
        worker.join()
    start = min(t[0] for t in timings)
    end = max(t[1] for t in timings)
    return Limit(articles=len(indexes), wall_s=end - start, cpu_s=sum(t[2] for t in timings))


def _extract_chunk(
    chunk: list[int], barrier: Barrier, settings: Settings, results: SimpleQueue[Any]
) -> None:
    bodies = [(i, page_html(_pages, i)) for i in chunk]
    warm_up(settings)  # the same warm-up as a worker's pool processes get (sample pages)
    barrier.wait()
    started, cpu = time.time(), time.process_time()
    for index, body in bodies:
        _extract(index, body, settings)
    results.put((started, time.time(), time.process_time() - cpu))


def _extract(index: int, body: bytes, settings: Settings) -> None:
    url = f"http://127.0.0.1{article_path(index)}"
    page = page_from_html(url, decode_html(body, "text/html; charset=utf-8"))
    with contextlib.suppress(PipelineError):  # a page without an article costs its time too
        extract_page(page, settings)


def naive_limit(feed_urls: Sequence[str], count: int, redis_url: str) -> Limit:
    """Feeds, then for up to ``count`` entries: GET, trafilatura JSON extraction, XADD."""
    import feedparser
    import redis
    import trafilatura
    import urllib3

    logging.getLogger("trafilatura").setLevel(logging.ERROR)  # "discarding data" per empty page
    http = urllib3.PoolManager()
    client = redis.Redis.from_url(redis_url, db=1)
    started, cpu, done = time.time(), time.process_time(), 0
    for feed_url in feed_urls:
        feed = feedparser.parse(http.request("GET", feed_url).data)
        for entry in feed.entries:
            if done >= count:
                break
            html = http.request("GET", entry.link).data.decode("utf-8", "replace")
            doc = trafilatura.extract(
                html, url=entry.link, output_format="json", with_metadata=True
            )
            if doc:
                client.xadd(keys.ARTICLES_STREAM, {"url": entry.link, "body": doc})
            done += 1
        if done >= count:
            break
    wall, cpu_s = time.time() - started, time.process_time() - cpu
    client.close()
    http.clear()
    return Limit(articles=done, wall_s=wall, cpu_s=cpu_s)
