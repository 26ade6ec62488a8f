"""Stream retention that never deletes what a consumer group has not acknowledged.

The age and length limits say what may go; the consumer groups say what must stay: an entry
still pending in any group, or not yet delivered to any group, is kept whatever its age.
(``XADD MAXLEN`` would delete such entries, so newsflow never trims on write.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import redis

from pipeline import keys
from pipeline.connection import redis_errors

STREAMS = (keys.ARTICLES_STREAM, keys.EVENTS_STREAM, keys.DEAD_STREAM)


@dataclass(frozen=True, slots=True, kw_only=True)
class TrimResult:
    """What one trim did to one stream."""

    stream: str
    deleted: int
    keep_from: str
    held_by_groups: bool


def trim_stream(
    client: redis.Redis, stream: str, *, max_len: int, max_age_s: int, now: float | None = None
) -> TrimResult:
    """Delete entries beyond ``max_len`` or older than ``max_age_s`` that every group acked.

    Raises:
        RedisUnavailable: Redis could not be reached.
    """
    with redis_errors(f"trimming {stream} failed"):
        policy = _policy_cutoff(client, stream, max_len, max_age_s, now or time.time())
        held = group_floor(client, stream)
        keep_from = policy if held is None or _id_key(policy) <= _id_key(held) else held
        deleted = int(client.xtrim(stream, minid=keep_from, approximate=False))
    return TrimResult(
        stream=stream,
        deleted=deleted,
        keep_from=keep_from,
        held_by_groups=held is not None and keep_from == held != policy,
    )


def group_floor(client: redis.Redis, stream: str) -> str | None:
    """The oldest id some group still needs (pending or undelivered); None without groups."""
    try:
        groups: Any = client.xinfo_groups(stream)
    except redis.ResponseError:
        return None  # no such stream
    floors = []
    for group in groups:
        name = group["name"]
        summary: Any = client.xpending(stream, name)
        if summary and summary.get("pending"):
            floors.append(_text(summary["min"]))
        floors.append(_next_id(_text(group["last-delivered-id"])))
    return min(floors, key=_id_key) if floors else None


def _policy_cutoff(
    client: redis.Redis, stream: str, max_len: int, max_age_s: int, now: float
) -> str:
    age_cutoff = f"{int((now - max_age_s) * 1000)}-0"
    newest: Any = client.xrevrange(stream, count=max_len)
    if len(newest) < max_len:
        return age_cutoff
    length_cutoff = _text(newest[-1][0])
    return max(age_cutoff, length_cutoff, key=_id_key)


def _next_id(stream_id: str) -> str:
    ms, seq = _id_key(stream_id)
    return f"{ms}-{seq + 1}"


def _id_key(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def trim_all(client: redis.Redis, *, max_len: int, max_age_s: int) -> list[TrimResult]:
    """Trim the article, event and dead-letter streams with the same limits.

    Raises:
        RedisUnavailable: Redis could not be reached.
    """
    return [trim_stream(client, s, max_len=max_len, max_age_s=max_age_s) for s in STREAMS]
