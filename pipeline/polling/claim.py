"""Due feeds taken from the one poll schedule by any number of pollers.

The schedule (``keys.FEED_SCHEDULE``) keeps its format: feed URL -> next poll time. A claim
(one Lua script) takes a batch of due feeds and moves each one's time to the end of the
claim, ``claim_ttl_s`` ahead: no other poller sees them as due until then. The poll writes
the feed's real next time when it ends (:func:`pipeline.polling.schedule.schedule_poll`);
if the poller dies first, the claim runs out and the feed is due again. Feeds taken but not
started (the poller stops, or a round ends) are given back at once.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import msgspec
import redis

from pipeline import keys
from pipeline.connection import LuaScript, redis_errors
from pipeline.settings import FeedConfig

_CLAIM = LuaScript(
    "pipeline.polling", "claim.lua", keys=("schedule",), args=("now", "claim_end", "limit")
)


def claim_due(client: redis.Redis, *, now: float, ttl_s: float, limit: int) -> list[FeedConfig]:
    """Take up to ``limit`` due feeds for ``ttl_s`` seconds; the registered, enabled ones.

    Schedule members that are no longer registered (or are disabled) are removed.

    Raises:
        RedisUnavailable: Redis could not be reached.
    """
    with redis_errors("poll schedule unavailable"):
        args = {"now": repr(now), "claim_end": repr(now + ttl_s), "limit": limit}
        urls: list[bytes] = _CLAIM(client, {"schedule": keys.FEED_SCHEDULE}, args)
        if not urls:
            return []
        configs: list[Any] = client.hmget(keys.FEED_REGISTRY, urls)
        feeds = [msgspec.json.decode(c, type=FeedConfig) for c in configs if c is not None]
        stale = [u for u, c in zip(urls, configs, strict=True) if c is None]
        stale += [f.url.encode() for f in feeds if not f.enabled]
        if stale:
            client.zrem(keys.FEED_SCHEDULE, *stale)
    return [f for f in feeds if f.enabled]


def give_back(client: redis.Redis, feeds: Sequence[FeedConfig]) -> None:
    """Make feeds taken but not polled due again now (only those still scheduled).

    Raises:
        RedisUnavailable: Redis could not be reached.
    """
    if feeds:
        with redis_errors("poll schedule unavailable"):
            now = time.time()
            client.zadd(keys.FEED_SCHEDULE, {f.url: now for f in feeds}, xx=True)
