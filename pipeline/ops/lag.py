"""Backpressure from consumer lag: while a named consumer group of the articles stream is
``poller.max_group_lag`` entries behind, no poll round starts (like ``max_queued_tasks`` for
the workers' queue). Groups not named in ``poller.lag_groups`` never hold ingestion, and a
named group that does not exist (yet) does not either (``newsflow doctor`` warns).

A group's lag is XINFO GROUPS' ``lag`` on Redis >= 7. On older servers, or when Redis 7
cannot tell (``lag`` is nil after deletions), it is counted from the group's last-delivered
id by a script, up to the limit: at most ``max_group_lag`` entries read inside Redis per
check, so keep the limit moderate there (Redis >= 7 costs one XINFO whatever the lag).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from pipeline import keys
from pipeline.connection import LuaScript, redis_errors
from pipeline.settings import PollerSettings

log = logging.getLogger(__name__)
RECHECK_S = 1.0
"""The gate reads the lags at most this often (the poller's loop may turn every 50 ms)."""
_COUNT = LuaScript("pipeline.ops", "lag.lua", keys=("stream",), args=("after", "cap"))


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupLag:
    """A named group's lag against the limit."""

    group: str
    lag: int | None
    """Entries not yet delivered to the group (at most ``limit`` when counted); None: no
    such group."""
    limit: int
    counted: bool = False
    """Counted from the last-delivered id (Redis < 7, or XINFO gave no lag)."""

    @property
    def holds(self) -> bool:
        """True while the group is far enough behind to hold polling."""
        return self.lag is not None and self.lag >= self.limit

    def describe(self) -> str:
        if self.lag is None:
            return f"group {self.group}: no such group on {keys.ARTICLES_STREAM}"
        at_least = ">= " if self.counted and self.lag >= self.limit else ""
        return f"group {self.group}: lag {at_least}{self.lag} (polling holds at {self.limit})"


def read_group_lags(client: redis.Redis, groups: tuple[str, ...], limit: int) -> list[GroupLag]:
    """The lag of each named group, in the order named.

    Raises:
        RedisUnavailable: Redis could not be read.
    """
    if not groups:
        return []
    with redis_errors("consumer group lag unavailable"):
        try:
            raw: Any = client.xinfo_groups(keys.ARTICLES_STREAM)
        except redis.ResponseError:  # no stream yet: no group either
            raw = []
        info = {_text(g.get("name")): g for g in raw}
        return [_lag_of(client, name, info.get(name), limit) for name in groups]


def counted_lag(client: redis.Redis, last_delivered_id: str, cap: int) -> int:
    """Entries after ``last_delivered_id``, counted up to ``cap`` (the Redis < 7 way).

    Raises:
        redis.RedisError: as redis-py raises it (callers translate with redis_errors).
    """
    return int(
        _COUNT(client, {"stream": keys.ARTICLES_STREAM}, {"after": last_delivered_id, "cap": cap})
    )


def _lag_of(client: redis.Redis, name: str, group: Any, limit: int) -> GroupLag:
    if group is None:
        return GroupLag(group=name, lag=None, limit=limit)
    lag = group.get("lag")
    if lag is not None:
        return GroupLag(group=name, lag=int(lag), limit=limit)
    counted = counted_lag(client, _text(group.get("last-delivered-id")) or "0-0", limit)
    return GroupLag(group=name, lag=counted, limit=limit, counted=True)


def rounds_held(client: redis.Redis) -> int:
    """Poll rounds held back for consumer lag so far (all pollers).

    Raises:
        RedisUnavailable: Redis could not be read.
    """
    with redis_errors("lag hold count unavailable"):
        return int(client.get(keys.POLLER_LAG_HOLDS) or 0)


class LagGate:
    """The poller's check before each round: hold while a named group lags too far.

    Logs when polling pauses and resumes, and counts each held round (in Redis, for
    ``newsflow stats``, and through ``on_hold``, for the metric).
    """

    def __init__(
        self,
        client: redis.Redis,
        settings: PollerSettings,
        on_hold: Callable[[], None] | None = None,
    ) -> None:
        self._client = client
        self._groups = settings.lag_groups
        self._limit = settings.max_group_lag
        self._on_hold = on_hold or (lambda: None)
        self._holding: tuple[str, ...] = ()
        self._checked_at = -RECHECK_S

    def holds(self) -> bool:
        """True when this round must not start.

        Raises:
            RedisUnavailable: Redis could not be read.
        """
        if not self._groups:
            return False
        if time.monotonic() - self._checked_at >= RECHECK_S:
            self._checked_at = time.monotonic()
            self._check()
        if self._holding:
            with redis_errors("lag hold count failed"):
                self._client.incr(keys.POLLER_LAG_HOLDS)
            self._on_hold()
        return bool(self._holding)

    def _check(self) -> None:
        lagging = [g for g in read_group_lags(self._client, self._groups, self._limit) if g.holds]
        names = tuple(g.group for g in lagging)
        if names and not self._holding:
            log.warning(
                "%s reached poller.max_group_lag: polling paused",
                "; ".join(g.describe() for g in lagging),
            )
        elif self._holding and not names:
            log.info("consumer groups %s caught up: polling resumed", ", ".join(self._holding))
        self._holding = names


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")
