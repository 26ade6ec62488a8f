"""The dead-letter stream: list, retry (reopen) and purge entries of ``newsflow:dead``.

The stream holds two kinds of record, told apart by ``type`` (the README's "Dead letters"
table lists their fields):

- ``dead``: an entry the workers gave up on (``pipeline.publish.Publisher.record_outcome``).
  Its ``entry`` is the feed entry: :func:`reopen_dead` forgets its outcome so it can be enqueued
  again.
- ``consumer_dead``: an article a consumer group failed ``max_deliveries`` times
  (:class:`pipeline.streams.consumer.Consumer`). It was acked in that group when it was
  dead-lettered, and Redis cannot put one acked entry back into a group's pending list; adding
  the article to the stream again would deliver it to every other group too. So it is given
  back to its group by rewinding the group to it (``newsflow replay --group G --since ID``,
  :func:`pipeline.streams.replay.rewind_group`), which delivers the later entries to that group
  again as well; :func:`consumer_retry_hint` says so.

Both kinds share ``type``, ``id`` (article or entry id), ``url``, ``reason``, ``error``,
``attempts`` and ``at``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
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


WORKER_DEAD = "dead"
"""``type`` of a dead letter written by the workers (retried with :func:`reopen_dead`)."""
CONSUMER_DEAD = "consumer_dead"
"""``type`` of a dead letter written by the consumer library (retried by a group rewind)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    """One entry of the dead-letter stream."""

    stream_id: str
    """The dead letter's own id in ``newsflow:dead`` (what retry and purge take)."""
    fields: dict[str, str]

    @property
    def kind(self) -> str:
        """``dead`` (workers) or ``consumer_dead`` (consumer library)."""
        return self.fields.get("type", "")

    def as_json(self) -> dict[str, str]:
        """The fields to print: ``dead_id`` is the dead letter's own id; a consumer dead
        letter's ``stream_id`` (its entry in the source stream) is ``source_stream_id``."""
        row = {"dead_id": self.stream_id}
        row.update(
            ("source_stream_id" if name == "stream_id" else name, value)
            for name, value in self.fields.items()
        )
        return row


def _letter(stream_id: bytes, raw: dict[bytes, bytes]) -> DeadLetter:
    fields = {k.decode(): v.decode("utf-8", "replace") for k, v in raw.items()}
    if fields.get("type") == CONSUMER_DEAD:  # written before they had the common fields
        fields.setdefault("reason", "max_deliveries")
        fields.setdefault("attempts", fields.get("deliveries", ""))
    return DeadLetter(stream_id=stream_id.decode(), fields=fields)


def list_dead(client: redis.Redis, *, count: int = 50) -> list[DeadLetter]:
    """The newest dead letters first.

    Raises:
        RedisUnavailable: Redis could not be read.
    """
    with redis_errors("dead-letter stream unavailable"):
        raw: Any = client.xrevrange(keys.DEAD_STREAM, count=count)
    return [_letter(sid, f) for sid, f in raw]


def get_dead(client: redis.Redis, stream_id: str) -> DeadLetter | None:
    """The dead letter ``stream_id``, or None if there is none (or the id is malformed).

    Raises:
        RedisUnavailable: Redis could not be read.
    """
    with redis_errors("dead-letter stream unavailable"):
        try:
            raw: Any = client.xrange(keys.DEAD_STREAM, stream_id, stream_id)
        except redis.ResponseError:  # not a stream id
            return None
    return _letter(*raw[0]) if raw else None


def consumer_retry_hint(client: redis.Redis, letter: DeadLetter) -> str:
    """How to deliver a consumer dead letter to its group again (it is never re-added).

    Raises:
        RedisUnavailable: Redis could not be read.
    """
    stream = letter.fields.get("stream", "")
    group = letter.fields.get("group", "")
    source_id = letter.fields.get("stream_id", "")
    with redis_errors("stream unavailable"):
        try:
            present = bool(client.xrange(stream, source_id, source_id)) if source_id else False
        except redis.ResponseError:
            present = False
    if not present:
        return (
            f"a consumer dead letter of group {group}, but its entry {source_id} is no longer "
            f"in {stream} (trimmed): it cannot be delivered again"
        )
    if stream == keys.ARTICLES_STREAM:
        how = f"`newsflow replay --group {group} --since {source_id}`"
    else:
        how = f"XGROUP SETID {stream} {group} <the id just before {source_id}>"
    return (
        f"a consumer dead letter of group {group} ({stream} entry {source_id}); a group cannot "
        f"take back one acked entry, and adding it to {stream} again would reach every group. "
        f"Rewind the group to it: {how} (its consumers get the later entries again too), "
        f"then `newsflow dead purge {letter.stream_id}`"
    )


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


def purge_dead(
    client: redis.Redis, *, before_ms: int | None = None, stream_ids: Sequence[str] = ()
) -> int:
    """Delete dead letters (``stream_ids``, else all or those older than ``before_ms``); their
    outcomes stay.

    Raises:
        RedisUnavailable: Redis could not be reached.
    """
    with redis_errors("dead-letter stream unavailable"):
        if stream_ids:
            deleted = 0
            for sid in stream_ids:
                try:
                    deleted += int(client.xdel(keys.DEAD_STREAM, sid))
                except redis.ResponseError:  # not a stream id
                    continue
            return deleted
        if before_ms is None:
            count = int(client.xlen(keys.DEAD_STREAM))
            client.delete(keys.DEAD_STREAM)
            return count
        return int(client.xtrim(keys.DEAD_STREAM, minid=f"{before_ms}-0", approximate=False))
