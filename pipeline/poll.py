"""Polling one feed: conditional GET, parse, enqueue new entries, remember them.

An entry is marked seen only after ``enqueue`` returned, so a crash between the two
re-enqueues it (the worker's outcome key absorbs the repeat) instead of losing it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import redis

from pipeline import keys
from pipeline.dedupe import url_id
from pipeline.errors import (
    DropArticle,
    FeedError,
    FetchTimeout,
    HostThrottled,
    RedisUnavailable,
    UpstreamUnavailable,
)
from pipeline.feeds import ParsedFeed, parse_feed
from pipeline.fetch import Fetcher, Response, fetch_feed
from pipeline.models import FeedEntry
from pipeline.politeness import HostGate
from pipeline.settings import FeedConfig, Settings
from pipeline.sitemaps import is_sitemap, parse_sitemap

log = logging.getLogger(__name__)
_ENQUEUED_LUA = files("pipeline").joinpath("scripts/enqueued.lua").read_text(encoding="utf-8")
Enqueue = Callable[[FeedEntry], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class PollResult:
    """What one poll of one feed did."""

    feed_url: str
    status: str
    new: int = 0
    entries: int = 0
    skipped: int = 0
    updated: int = 0
    error: str = ""
    retry_after: float | None = None


def poll_feed(
    feed: FeedConfig,
    *,
    fetcher: Fetcher,
    client: redis.Redis,
    settings: Settings,
    enqueue: Enqueue,
    gate: HostGate,
) -> PollResult:
    """Poll one feed and enqueue its new entries; record the result in the feed's state.

    Feed errors are returned as a result with status ``error``, never raised; a feed whose
    host is throttled is ``deferred``. The fetch takes a slot of the host's shared limits.

    Raises:
        RedisUnavailable: feed state could not be read or written.
    """
    state_key = keys.feed_state(feed.url)
    try:
        raw: dict[bytes, bytes] = client.hgetall(state_key)  # type: ignore[assignment]
        state = {k.decode(): v.decode() for k, v in raw.items()}
        response_or_result = _fetch(feed, state, fetcher=fetcher, gate=gate)
        if isinstance(response_or_result, PollResult):
            result = response_or_result
        else:

            def fetch_child(url: str) -> bytes | None:
                return _child_body(url, feed, fetcher=fetcher, gate=gate)

            result = _take_entries(
                feed,
                state,
                response_or_result,
                client=client,
                settings=settings,
                enqueue=enqueue,
                fetch_child=fetch_child,
            )
        _save_state(client, state_key, state, result, feed, settings)
    except redis.RedisError as exc:
        raise RedisUnavailable(f"feed state unavailable: {exc}", url=feed.url) from exc
    return result


def _fetch(
    feed: FeedConfig, state: dict[str, str], *, fetcher: Fetcher, gate: HostGate
) -> Response | PollResult:
    """The feed's response, or the result of a poll that ends here (304, throttled, error)."""
    try:
        with gate.slot(feed.url):
            response = fetch_feed(
                fetcher,
                feed.url,
                etag=state.get("etag", ""),
                last_modified=state.get("last_modified", ""),
                headers=feed.headers,
                proxy=feed.proxy,
            )
    except HostThrottled as exc:
        return PollResult(feed_url=feed.url, status="deferred", retry_after=exc.retry_after)
    except UpstreamUnavailable as exc:
        if exc.status in (429, 503):
            gate.cool_down(feed.url, exc.retry_after or fetcher.settings.cooldown_s)
        return PollResult(
            feed_url=feed.url,
            status="error",
            error=f"{exc.reason}: {exc}",
            retry_after=exc.retry_after,
        )
    except (FetchTimeout, DropArticle) as exc:
        return PollResult(feed_url=feed.url, status="error", error=f"{exc.reason}: {exc}")
    if response.status == 304:
        return PollResult(feed_url=feed.url, status="not_modified")
    return response


def _take_entries(
    feed: FeedConfig,
    state: dict[str, str],
    response: Response,
    *,
    client: redis.Redis,
    settings: Settings,
    enqueue: Enqueue,
    fetch_child: Callable[[str], bytes | None],
) -> PollResult:
    body_hash = hashlib.sha256(response.body).hexdigest()[:32]
    state["etag"] = response.headers.get("etag", "")
    state["last_modified"] = response.headers.get("last-modified", "")
    if state.get("content_hash") == body_hash:  # validators missing or lying: same bytes
        return PollResult(feed_url=feed.url, status="not_modified")
    try:
        if is_sitemap(response.body):
            parsed = _sitemap_entries(response.body, feed.url, settings, fetch_child)
        else:
            parsed = parse_feed(
                response.body, feed.url, max_entries=settings.poller.max_entries_per_poll
            )
    except FeedError as exc:
        return PollResult(feed_url=feed.url, status="error", error=f"{exc.reason}: {exc}")
    new, updated = _enqueue_new(
        parsed, feed.url, client=client, enqueue=enqueue, ttl_s=settings.dedupe_ttl_s
    )
    state["content_hash"] = body_hash  # only once its entries are enqueued
    status = "warning" if parsed.warning else "ok"
    return PollResult(
        feed_url=feed.url,
        status=status,
        new=new,
        updated=updated,
        entries=len(parsed.entries),
        skipped=parsed.skipped,
        error=parsed.warning,
    )


def _sitemap_entries(
    body: bytes, feed_url: str, settings: Settings, fetch_child: Callable[[str], bytes | None]
) -> ParsedFeed:
    """Entries of a sitemap, or of the first ``max_child_sitemaps`` sitemaps of an index."""
    poller = settings.poller
    sitemap = parse_sitemap(
        body,
        feed_url,
        max_entries=poller.max_entries_per_poll,
        news_max_age_s=poller.news_max_age_s,
    )
    entries, skipped = list(sitemap.feed.entries), sitemap.feed.skipped
    for child_url in sitemap.children[: poller.max_child_sitemaps]:
        child = fetch_child(child_url)
        if child is None or len(entries) >= poller.max_entries_per_poll:
            continue
        part = parse_sitemap(
            child,
            feed_url,
            max_entries=poller.max_entries_per_poll,
            news_max_age_s=poller.news_max_age_s,
        ).feed
        entries += part.entries[: poller.max_entries_per_poll - len(entries)]
        skipped += part.skipped
    return ParsedFeed(title="", entries=tuple(entries), skipped=skipped)


def _child_body(url: str, feed: FeedConfig, *, fetcher: Fetcher, gate: HostGate) -> bytes | None:
    """A child sitemap's bytes, or None if it cannot be fetched now (logged)."""
    try:
        with gate.slot(url):
            return fetch_feed(fetcher, url, headers=feed.headers, proxy=feed.proxy).body
    except (HostThrottled, UpstreamUnavailable, FetchTimeout, DropArticle) as exc:
        log.warning("child sitemap %s of %s: %s", url, feed.url, exc)
        return None


def _enqueue_new(
    parsed: ParsedFeed, feed_url: str, *, client: redis.Redis, enqueue: Enqueue, ttl_s: int
) -> tuple[int, int]:
    """Enqueue unseen entries, and seen ones whose feed ``updated`` time moved on.

    Returns (new, updated). The seen-set remembers each entry's last ``updated`` time.
    """
    seen_key = keys.feed_seen(feed_url)
    entry_keys = [url_id(e.url) for e in parsed.entries]
    already: list[Any] = client.hmget(seen_key, entry_keys) if entry_keys else []
    count = client.register_script(_ENQUEUED_LUA)
    new = updated = 0
    for entry, key, seen in zip(parsed.entries, entry_keys, already, strict=True):
        marker = entry.updated_at or "-"
        if seen is not None:
            if _moved_on(marker, seen.decode()):
                enqueue(dataclasses.replace(entry, update=True))
                client.hset(seen_key, key, marker)
                updated += 1
            continue
        enqueue(entry)  # before marking: a crash in between re-enqueues, never loses
        if client.hsetnx(seen_key, key, marker):
            new += 1
            count(
                keys=[keys.enqueued_marker(key), keys.ENQUEUED_COUNT, keys.feed_outcomes(feed_url)],
                args=[ttl_s],
            )
    return new, updated


def _moved_on(marker: str, seen: str) -> bool:
    """True when the entry now carries a later ``updated`` time than when last enqueued."""
    return marker != "-" and "T" in marker and (seen == "-" or ("T" in seen and marker > seen))


def _save_state(
    client: redis.Redis,
    state_key: str,
    state: dict[str, str],
    result: PollResult,
    feed: FeedConfig,
    settings: Settings,
) -> None:
    now = time.time()
    failed = result.status == "error"
    streak = int(state.get("error_streak", "0")) + 1 if failed else 0
    if result.status == "deferred":
        streak = int(state.get("error_streak", "0"))
    interval = feed.interval_s or settings.poller.interval_s
    delay = min(interval * 2 ** min(streak, 6), 24 * 3600) if failed else interval
    if result.retry_after is not None:
        delay = max(delay, result.retry_after) if failed else result.retry_after
    state.update(
        url=feed.url,
        last_poll=str(now),
        status=result.status,
        error=result.error,
        error_streak=str(streak),
        next_poll=str(now + delay),
        items_seen=str(int(state.get("items_seen", "0")) + result.new),
    )
    pipe = client.pipeline()
    pipe.hset(state_key, mapping=dict(state))  # type: ignore[arg-type]
    pipe.expire(keys.feed_seen(feed.url), settings.poller.seen_ttl_s)
    pipe.execute()


def due_feeds(client: redis.Redis, feeds: tuple[FeedConfig, ...], now: float) -> list[FeedConfig]:
    """The enabled feeds whose next poll time has come (never-polled feeds are due).

    Raises:
        RedisUnavailable: feed state could not be read.
    """
    enabled = [f for f in feeds if f.enabled]
    try:
        pipe = client.pipeline()
        for feed in enabled:
            pipe.hget(keys.feed_state(feed.url), "next_poll")
        next_polls = pipe.execute()
    except redis.RedisError as exc:
        raise RedisUnavailable(f"feed state unavailable: {exc}") from exc
    return [
        f for f, nxt in zip(enabled, next_polls, strict=True) if nxt is None or float(nxt) <= now
    ]
