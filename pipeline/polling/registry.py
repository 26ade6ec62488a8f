"""The feed registry in Redis: seeded from config/, managed with ``newsflow feeds``.

The registry is the one runtime list of feeds: the poller polls what it holds, and the
workers fetch each feed's articles with the options (headers, proxy) it holds now, through
:class:`FeedLookup`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

import msgspec
import redis

from pipeline import keys
from pipeline.connection import redis_errors
from pipeline.errors import FeedError, PipelineError
from pipeline.fetch.client import FEED_TYPES, HTML_TYPES, Fetcher
from pipeline.polling.discovery import (
    discover_feeds,
    is_site_root,
    robots_sitemaps,
    robots_url,
    well_known_candidates,
)
from pipeline.polling.feeds import parse_feed
from pipeline.polling.schedule import schedule_new
from pipeline.polling.sitemaps import document_kind, gunzipped
from pipeline.settings import FeedConfig

log = logging.getLogger(__name__)


def seed_feeds(client: redis.Redis, feeds: tuple[FeedConfig, ...]) -> int:
    """Register the configured feeds that are not registered yet; returns how many were new.

    A configured feed that moved for good (see :func:`move_feed`) stays under its new URL.

    Raises:
        RedisUnavailable: Redis could not be reached.
    """
    with redis_errors("feed registry unavailable"):
        added = 0
        moved: Any = client.hmget(keys.FEED_MOVES, [f.url for f in feeds]) if feeds else []
        for feed, moved_to in zip(feeds, moved, strict=True):
            if moved_to is not None:
                continue  # it moved for good: registered under its new URL
            if client.hsetnx(keys.FEED_REGISTRY, feed.url, msgspec.json.encode(feed)):
                schedule_new(client, feed)
                added += 1
        return added


def registered_feeds(client: redis.Redis) -> tuple[FeedConfig, ...]:
    """Every registered feed, sorted by URL.

    Raises:
        RedisUnavailable: Redis could not be reached.
    """
    with redis_errors("feed registry unavailable"):
        raw: Any = client.hgetall(keys.FEED_REGISTRY)
    feeds = [f for url, value in raw.items() if (f := _decode_feed(url, value)) is not None]
    return tuple(sorted(feeds, key=lambda f: f.url))


def registered_feed(client: redis.Redis, url: str) -> FeedConfig | None:
    """The registered feed with this URL, if any.

    Raises:
        RedisUnavailable: Redis could not be reached.
    """
    with redis_errors("feed registry unavailable"):
        raw: Any = client.hget(keys.FEED_REGISTRY, url)
    return None if raw is None else _decode_feed(url, raw)


def _decode_feed(url: bytes | str, value: bytes) -> FeedConfig | None:
    """A stored feed, or None (logged) when it no longer passes validation: a feed saved
    by an older version (e.g. a header value with a control character) must not stop the
    poller or the workers; re-add it with ``newsflow feeds add``."""
    try:
        return msgspec.json.decode(value, type=FeedConfig)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        name = url.decode("utf-8", "replace") if isinstance(url, bytes) else url
        log.error("registered feed %s is invalid and is skipped: %s", name, exc)
        return None


class FeedLookup:
    """Registered feeds by URL for the workers, each read again after ``ttl_s`` seconds (so
    a feed added or edited with ``newsflow feeds`` is fetched with its new options)."""

    MAX_CACHED = 10_000

    def __init__(
        self,
        client: redis.Redis,
        ttl_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._ttl_s = ttl_s
        self._clock = clock
        self._cache: dict[str, tuple[float, FeedConfig | None]] = {}

    def get(self, url: str) -> FeedConfig | None:
        """The registered feed with this URL, if any (at most ``ttl_s`` old).

        Raises:
            RedisUnavailable: Redis could not be reached.
        """
        now = self._clock()
        cached = self._cache.get(url)
        if cached is not None and now - cached[0] < self._ttl_s:
            return cached[1]
        if len(self._cache) >= self.MAX_CACHED:
            self._cache.clear()
        feed = registered_feed(self._client, url)
        self._cache[url] = (now, feed)
        return feed


def add_feed(client: redis.Redis, feed: FeedConfig) -> bool:
    """Register (or replace) a feed, due now if it was not scheduled; True if it was new.

    Raises:
        RedisUnavailable: Redis could not be reached.
    """
    with redis_errors("feed registry unavailable"):
        new = bool(client.hset(keys.FEED_REGISTRY, feed.url, msgspec.json.encode(feed)))
        schedule_new(client, feed)
    return new


def move_feed(client: redis.Redis, feed: FeedConfig, new_url: str) -> bool:
    """Re-register a feed under the URL it moved to for good (a 301/308 redirect).

    Its options, poll state, seen-set, counters, sitemap children (with their validators) and
    place in the schedule follow it, and its state's ``moved_from`` says where from. If
    ``new_url`` is registered already, the old registration is only dropped (the new one
    keeps its own state). True if it moved.

    Raises:
        RedisUnavailable: Redis could not be reached.
    """
    config = msgspec.json.encode(dataclasses.replace(feed, url=new_url))
    with redis_errors("feed registry unavailable", url=feed.url):
        moved = bool(client.hsetnx(keys.FEED_REGISTRY, new_url, config))
        due = client.zscore(keys.FEED_SCHEDULE, feed.url)
        pipe = client.pipeline(transaction=True)
        if moved:
            for key in _FEED_KEYS:
                pipe.renamenx(key(feed.url), key(new_url))
        pipe.hdel(keys.FEED_REGISTRY, feed.url)
        pipe.zrem(keys.FEED_SCHEDULE, feed.url)
        pipe.hset(keys.FEED_MOVES, feed.url, new_url)
        if moved:
            pipe.zadd(keys.FEED_SCHEDULE, {new_url: due or time.time()}, nx=True)
            pipe.hset(keys.feed_state(new_url), mapping={"url": new_url, "moved_from": feed.url})
        pipe.execute(raise_on_error=False)  # RENAMENX of a key that never existed: no matter
    return moved


_FEED_KEYS = (keys.feed_state, keys.feed_seen, keys.feed_outcomes, keys.sitemap_children)
"""What a feed's URL names in Redis besides its registration and schedule."""


def remove_feed(client: redis.Redis, url: str) -> bool:
    """Unregister a feed (its poll state and counters stay); True if it was registered.

    Raises:
        RedisUnavailable: Redis could not be reached.
    """
    with redis_errors("feed registry unavailable"):
        client.zrem(keys.FEED_SCHEDULE, url)
        return bool(client.hdel(keys.FEED_REGISTRY, url))


def find_feeds(fetcher: Fetcher, url: str) -> list[str]:
    """The feed(s) behind a URL: itself if it is a feed or a sitemap (plain, index, Google
    News, gzipped), else those its page declares, else the site's well-known feed paths that
    answer with a feed, else (for a site root) the sitemaps its robots.txt declares.

    Raises:
        PipelineError: the URL itself could not be fetched.
    """
    response = fetcher.get(
        url, max_bytes=fetcher.settings.max_feed_bytes, accept=FEED_TYPES + HTML_TYPES
    )
    if _is_feed(response.body, url, limit=fetcher.settings.max_feed_bytes):
        return [url]
    declared = discover_feeds(response.body.decode("utf-8", "replace"), response.final_url)
    if declared:
        return declared
    known = [c for c in well_known_candidates(response.final_url) if _answers_feed(fetcher, c)]
    if known or not is_site_root(url):
        return known
    return [s for s in _declared_sitemaps(fetcher, response.final_url) if _answers_feed(fetcher, s)]


def _is_feed(body: bytes, url: str, *, limit: int) -> bool:
    """Whether the poller can read the body: a sitemap (by its root element), or a feed
    (gzipped or not: at most ``limit`` bytes once inflated)."""
    try:
        if document_kind(body) in ("sitemap", "sitemapindex"):
            return True
        parse_feed(gunzipped(body, url, limit=limit), url, max_entries=1)
    except FeedError:
        return False
    return True


def _answers_feed(fetcher: Fetcher, url: str) -> bool:
    try:
        response = fetcher.get(url, max_bytes=fetcher.settings.max_feed_bytes, accept=FEED_TYPES)
    except PipelineError:
        return False
    return _is_feed(response.body, url, limit=fetcher.settings.max_feed_bytes)


def _declared_sitemaps(fetcher: Fetcher, page_url: str) -> list[str]:
    """The sitemaps the site's robots.txt declares (none if it cannot be read)."""
    where = robots_url(page_url)
    try:
        response = fetcher.get(
            where, max_bytes=_MAX_ROBOTS_BYTES, accept=("text/plain", *HTML_TYPES)
        )
    except PipelineError:
        return []
    return robots_sitemaps(response.body.decode("utf-8", "replace"), where)


_MAX_ROBOTS_BYTES = 512 * 1024
"""Google reads the first 500 KiB of a robots.txt."""
