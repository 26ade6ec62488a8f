"""The dead-letter stream: list, retry (reopen) and purge entries of ``newsflow:dead``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import redis

from pipeline import keys
from pipeline.connection import LuaScript, redis_errors
from pipeline.dedupe import url_id
from pipeline.models import FeedEntry
from pipeline.publish import OUTCOME_LUA

_REOPEN = LuaScript(
    "pipeline.streams",
    "reopen.lua",
    keys=("dead", "entry_outcome", "counts", "feed_counts"),
    args=("stream_id",),
    libraries=(OUTCOME_LUA,),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    """One entry of the dead-letter stream."""

    stream_id: str
    fields: dict[str, str]


def list_dead(client: redis.Redis, *, count: int = 50) -> list[DeadLetter]:
    """The newest dead letters first.

    Raises:
        RedisUnavailable: Redis could not be read.
    """
    with redis_errors("dead-letter stream unavailable"):
        raw: Any = client.xrevrange(keys.DEAD_STREAM, count=count)
    return [
        DeadLetter(
            stream_id=sid.decode(),
            fields={k.decode(): v.decode("utf-8", "replace") for k, v in f.items()},
        )
        for sid, f in raw
    ]


def reopen_dead(client: redis.Redis, stream_id: str) -> FeedEntry | None:
    """Remove a dead letter and forget its outcome, so its entry can be enqueued again.

    Returns None when ``stream_id`` is not (or no longer) a dead-lettered entry.

    Raises:
        RedisUnavailable: Redis could not be reached.
    """
    with redis_errors("dead-letter stream unavailable"):
        raw: Any = client.xrange(keys.DEAD_STREAM, stream_id, stream_id)
        if not raw:
            return None
        fields = {k.decode(): v.decode() for k, v in raw[0][1].items()}
        entry = FeedEntry.from_message(json.loads(fields.get("entry", "{}")) or {"url": ""})
        script_keys = {
            "dead": keys.DEAD_STREAM,
            "entry_outcome": keys.url_outcome(url_id(entry.url)),
            "counts": keys.OUTCOME_COUNTS,
            "feed_counts": keys.feed_outcomes(entry.feed_url),
        }
        message: Any = _REOPEN(client, script_keys, {"stream_id": stream_id})
    return FeedEntry.from_message(json.loads(message)) if message else None


def purge_dead(client: redis.Redis, *, before_ms: int | None = None) -> int:
    """Delete dead letters (all, or those older than ``before_ms``); their outcomes stay.

    Raises:
        RedisUnavailable: Redis could not be reached.
    """
    with redis_errors("dead-letter stream unavailable"):
        if before_ms is None:
            count = int(client.xlen(keys.DEAD_STREAM))
            client.delete(keys.DEAD_STREAM)
            return count
        return int(client.xtrim(keys.DEAD_STREAM, minid=f"{before_ms}-0", approximate=False))
