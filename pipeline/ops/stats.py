"""Accounting read from Redis: every enqueued entry, its outcome, queues, streams and groups."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import redis

from pipeline import keys
from pipeline.connection import redis_errors
from pipeline.settings import FeedConfig

OUTCOMES = ("published", "duplicate", "dropped", "dead")


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedStats:
    """One feed: poll state and the outcomes of the entries it enqueued."""

    url: str
    name: str
    enabled: bool
    status: str
    error: str
    items_seen: int
    error_streak: int
    last_poll: float | None
    next_poll: float | None
    interval_s: float | None
    """The feed's current interval when healthy (fixed, or adapted to its entry rate)."""
    counts: dict[str, int]
    moved_from: str = ""
    """The URL it was registered under before a permanent redirect (301/308) moved it."""
    hub: str = ""
    """The WebSub hub the feed declares, if any."""
    push_until: float | None = None
    """When the lease of its verified WebSub subscription ends (None: no live one)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskQueue:
    """The workers' queue against ``poller.max_queued_tasks``."""

    depth: int
    limit: int

    @property
    def pauses_polling(self) -> bool:
        """The poller starts no poll round at this depth."""
        return self.depth >= self.limit


def read_task_queue(client: redis.Redis, limit: int) -> TaskQueue:
    """The queue's depth now (one LLEN; a Redis error goes up as it is)."""
    return TaskQueue(depth=int(client.llen(keys.TASK_QUEUE)), limit=limit)


@dataclass(frozen=True, slots=True, kw_only=True)
class Stats:
    """A snapshot of the whole pipeline."""

    enqueued: int
    outcomes: dict[str, int]
    queue_depth: int
    streams: dict[str, int]
    groups: list[dict[str, Any]] = field(default_factory=list)
    feeds: list[FeedStats] = field(default_factory=list)

    @property
    def in_flight(self) -> int:
        """Entries enqueued that have no recorded outcome yet (queued, running or retrying)."""
        return self.enqueued - sum(self.outcomes.get(name, 0) for name in OUTCOMES)


def collect_stats(client: redis.Redis, feeds: tuple[FeedConfig, ...]) -> Stats:
    """Read every counter in a few round trips.

    Raises:
        RedisUnavailable: Redis could not be read.
    """
    with redis_errors("stats unavailable"):
        pipe = client.pipeline(transaction=False)
        pipe.get(keys.ENQUEUED_COUNT)
        pipe.hgetall(keys.OUTCOME_COUNTS)
        pipe.llen(keys.TASK_QUEUE)
        for stream in (keys.ARTICLES_STREAM, keys.EVENTS_STREAM, keys.DEAD_STREAM):
            pipe.xlen(stream)
        for feed in feeds:
            pipe.hgetall(keys.feed_state(feed.url))
            pipe.hgetall(keys.feed_outcomes(feed.url))
            pipe.zscore(keys.WEBSUB_LIVE, feed.url)
        raw: list[Any] = pipe.execute()
        groups = _groups(client)
    enqueued, outcomes, depth, *rest = raw
    streams = dict(
        zip((keys.ARTICLES_STREAM, keys.EVENTS_STREAM, keys.DEAD_STREAM), rest[:3], strict=True)
    )
    per_feed = [_feed_stats(f, *rest[3 + 3 * i : 6 + 3 * i]) for i, f in enumerate(feeds)]
    return Stats(
        enqueued=int(enqueued or 0),
        outcomes=_ints(outcomes),
        queue_depth=int(depth),
        streams=streams,
        groups=groups,
        feeds=per_feed,
    )


def _groups(client: redis.Redis) -> list[dict[str, Any]]:
    try:
        raw: Any = client.xinfo_groups(keys.ARTICLES_STREAM)
    except redis.ResponseError:  # no stream yet
        return []
    return [
        {
            "name": _text(g.get("name")),
            "consumers": int(g.get("consumers", 0)),
            "pending": int(g.get("pending", 0)),
            "lag": g.get("lag"),
            "last_delivered_id": _text(g.get("last-delivered-id")),
        }
        for g in raw
    ]


def _feed_stats(
    feed: FeedConfig,
    state: dict[bytes, bytes],
    counts: dict[bytes, bytes],
    push_until: float | None,
) -> FeedStats:
    text = {k.decode(): v.decode() for k, v in state.items()}
    return FeedStats(
        url=feed.url,
        name=feed.name,
        enabled=feed.enabled,
        status=text.get("status", "never polled"),
        error=text.get("error", ""),
        items_seen=int(text.get("items_seen", 0)),
        error_streak=int(text.get("error_streak", 0)),
        last_poll=float(text["last_poll"]) if "last_poll" in text else None,
        next_poll=float(text["next_poll"]) if "next_poll" in text else None,
        interval_s=float(text["interval_s"]) if "interval_s" in text else None,
        counts=_ints(counts),
        moved_from=text.get("moved_from", ""),
        hub=text.get("hub", ""),
        push_until=push_until if push_until and push_until > time.time() else None,
    )


def _ints(raw: dict[bytes, bytes]) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in raw.items()}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")
