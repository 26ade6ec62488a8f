"""The poller process: polls due feeds and enqueues one Celery task per new entry."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time

import redis

from pipeline import keys
from pipeline.dedupe import url_id
from pipeline.fetch import Fetcher
from pipeline.lease import Lease
from pipeline.models import FeedEntry
from pipeline.politeness import HostGate
from pipeline.poll import PollResult, due_feeds, poll_feed
from pipeline.registry import registered_feeds, seed_feeds
from pipeline.retention import trim_all
from pipeline.settings import FeedConfig, Settings
from workers.app import app
from workers.metrics import FEED_POLLS, NEW_ENTRIES

log = logging.getLogger(__name__)


def enqueue_entry(entry: FeedEntry) -> None:
    """Send one entry to the workers; returns only once the broker has the message."""
    app.send_task(
        "newsflow.process_entry",
        args=[dataclasses.replace(entry, enqueued_at=time.time()).to_message()],
        task_id=url_id(entry.url),
        queue=keys.CELERY_QUEUE,
        retry=True,
    )


def poll_once(
    feeds: tuple[FeedConfig, ...],
    *,
    client: redis.Redis,
    fetcher: Fetcher,
    settings: Settings,
    lease: Lease | None = None,
) -> list[PollResult]:
    """Poll the given feeds once each, logging one line per feed.

    With a ``lease``, it is renewed before each feed and polling stops if it was lost.
    """
    gate = HostGate(client, settings.fetch)
    results = []
    for feed in feeds:
        if lease is not None and not lease.hold():
            log.warning("poller lease lost to another poller; standing by")
            break
        result = poll_feed(
            feed,
            fetcher=fetcher,
            client=client,
            settings=settings,
            enqueue=enqueue_entry,
            gate=gate,
        )
        FEED_POLLS.labels(feed=feed.url, status=result.status).inc()
        NEW_ENTRIES.labels(feed=feed.url).inc(result.new)
        level = logging.WARNING if result.status == "error" else logging.INFO
        log.log(
            level,
            "poll feed=%s status=%s new=%d updated=%d entries=%d skipped=%d %s",
            feed.url,
            result.status,
            result.new,
            result.updated,
            result.entries,
            result.skipped,
            result.error,
        )
        results.append(result)
    return results


def run_poller(settings: Settings, client: redis.Redis, stop: threading.Event) -> None:
    """Poll due feeds until ``stop`` is set."""
    fetcher = Fetcher(settings.fetch)
    lease = Lease(client, keys.POLLER_LEASE, settings.poller.lease_ttl_s)
    seeded = seed_feeds(client, settings.feeds)
    log.info("poller %s started; %d feeds from config/ newly registered", lease.owner, seeded)
    next_trim = 0.0
    leading = False
    try:
        while not stop.is_set():
            if lease.hold() != leading:
                leading = not leading
                log.info("poller %s is %s", lease.owner, "active" if leading else "standby")
            if leading:
                due = due_feeds(client, registered_feeds(client), time.time())
                poll_once(
                    tuple(due), client=client, fetcher=fetcher, settings=settings, lease=lease
                )
                if time.monotonic() >= next_trim:
                    _trim(client, settings)
                    next_trim = time.monotonic() + settings.trim_interval_s
            stop.wait(1.0)
    finally:
        lease.release()
        fetcher.close()


def _trim(client: redis.Redis, settings: Settings) -> None:
    """Retention behind the consumer groups (only the poller trims: one active process)."""
    for result in trim_all(
        client, max_len=settings.stream_maxlen, max_age_s=settings.stream_max_age_s
    ):
        if result.deleted or result.held_by_groups:
            log.info(
                "trim stream=%s deleted=%d held_by_groups=%s",
                result.stream,
                result.deleted,
                result.held_by_groups,
            )
