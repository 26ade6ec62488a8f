"""The poll schedule: a sorted set in Redis of feed URL -> next poll time (unix seconds).

Scheduling is data, not process memory: a restarted (or standby) poller resumes exactly
where the last one was, with no missed polls and no burst of re-polls.
"""

from __future__ import annotations

from typing import Any

import msgspec
import redis

from pipeline import keys
from pipeline.connection import redis_errors
from pipeline.settings import FeedConfig


def schedule_poll(client: redis.Redis | Any, feed_url: str, at: float) -> None:
    """Set the feed's next poll time (``client`` may be a pipeline)."""
    client.zadd(keys.FEED_SCHEDULE, {feed_url: at})


def schedule_new(client: redis.Redis | Any, feed: FeedConfig) -> None:
    """Put a feed on the schedule, due now, unless it is already there; drop a disabled one."""
    if feed.enabled:
        client.zadd(keys.FEED_SCHEDULE, {feed.url: 0}, nx=True)
    else:
        client.zrem(keys.FEED_SCHEDULE, feed.url)


def due_feeds(client: redis.Redis, now: float, *, limit: int) -> list[FeedConfig]:
    """The registered, enabled feeds whose poll time has come, earliest first.

    Schedule members that are no longer registered (or are disabled) are removed.

    Raises:
        RedisUnavailable: Redis could not be reached.
    """
    with redis_errors("poll schedule unavailable"):
        urls: list[bytes] = client.zrangebyscore(  # type: ignore[assignment]
            keys.FEED_SCHEDULE, "-inf", now, start=0, num=limit
        )
        if not urls:
            return []
        configs: list[bytes | None] = client.hmget(keys.FEED_REGISTRY, urls)  # type: ignore[assignment]
        feeds = [msgspec.json.decode(c, type=FeedConfig) for c in configs if c is not None]
        stale = [u for u, c in zip(urls, configs, strict=True) if c is None]
        stale += [f.url.encode() for f in feeds if not f.enabled]
        if stale:
            client.zrem(keys.FEED_SCHEDULE, *stale)
    return [f for f in feeds if f.enabled]


def seconds_until_due(client: redis.Redis, now: float) -> float | None:
    """Seconds until the earliest scheduled poll (0 if one is due), None if nothing is scheduled.

    Raises:
        RedisUnavailable: Redis could not be reached.
    """
    with redis_errors("poll schedule unavailable"):
        first: list[tuple[bytes, float]] = client.zrange(  # type: ignore[assignment]
            keys.FEED_SCHEDULE, 0, 0, withscores=True
        )
    return max(first[0][1] - now, 0.0) if first else None


def reconcile_schedule(client: redis.Redis, feeds: tuple[FeedConfig, ...]) -> int:
    """Schedule every enabled registered feed missing from the schedule; returns how many.

    A feed polled before the schedule existed keeps the ``next_poll`` of its state.

    Raises:
        RedisUnavailable: Redis could not be reached.
    """
    enabled = [f for f in feeds if f.enabled]
    with redis_errors("poll schedule unavailable"):
        pipe = client.pipeline()
        for feed in enabled:
            pipe.zscore(keys.FEED_SCHEDULE, feed.url)
            pipe.hget(keys.feed_state(feed.url), "next_poll")
        found = pipe.execute()
        missing = {
            f.url: float(nxt or 0)
            for f, score, nxt in zip(enabled, found[::2], found[1::2], strict=True)
            if score is None
        }
        if missing:
            client.zadd(keys.FEED_SCHEDULE, missing, nx=True)
    return len(missing)


def count_round(client: redis.Redis) -> int:
    """Count one poll round of the active poller (``keys.POLLER_ROUNDS``); the new count.

    Raises:
        RedisUnavailable: Redis could not be reached.
    """
    with redis_errors("poll schedule unavailable"):
        return int(client.incr(keys.POLLER_ROUNDS))
