"""Replaying stream history: time/ID positions, rewinding a group, reading a range."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from pipeline import keys
from pipeline.connection import LuaScript, redis_errors
from pipeline.errors import ConfigError
from pipeline.streams.consumer import _decode, _text

log = logging.getLogger(__name__)

MAX_SEQ = 2**64 - 1
"""The largest sequence number of a stream id (``<ms>-<seq>``)."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_STREAM_ID = re.compile(r"^(\d+)(?:-(\d+))?$")
_PAGE = 1000
_COUNT = LuaScript(
    "pipeline.streams", "count_range.lua", keys=("stream",), args=("start", "stop", "page")
)


def stream_position(text: str, *, end: bool = False) -> str:
    """The stream id for ``<ms>-<seq>``, ``<ms>`` or an ISO 8601 time (naive times are UTC).

    A time or bare ms stands for its first possible id, or its last with ``end``.

    Raises:
        ValueError: not a stream id, ms timestamp or ISO 8601 time at or after 1970.
    """
    match = _STREAM_ID.match(text.strip())
    if match and match.group(2) is not None:
        return f"{int(match.group(1))}-{int(match.group(2))}"
    if match:
        ms = int(match.group(1))
    else:
        when = datetime.fromisoformat(text.strip())
        aware = when if when.tzinfo else when.replace(tzinfo=UTC)
        ms = (aware - _EPOCH) // timedelta(milliseconds=1)
        if ms < 0:
            raise ValueError(f"time before 1970: {text}")
    return f"{ms}-{MAX_SEQ if end else 0}"


def id_before(stream_id: str) -> str:
    """The greatest stream id below ``stream_id`` (``0-0`` stays ``0-0``)."""
    ms, seq = _id_parts(stream_id)
    if seq > 0:
        return f"{ms}-{seq - 1}"
    return f"{ms - 1}-{MAX_SEQ}" if ms > 0 else "0-0"


def rewind_group(
    client: redis.Redis, group: str, since: str, *, stream: str = keys.ARTICLES_STREAM
) -> int:
    """Move ``group`` back so its consumers get entries from ``since`` again; how many.

    Never moves the group forward: if it has not read up to ``since``, nothing changes.

    Raises:
        ConfigError: the group does not exist on ``stream``.
        RedisUnavailable: Redis failed.
    """
    last = _last_delivered(client, group, stream)
    if _id_parts(since) > _id_parts(last):
        return 0
    exposed = count_entries(client, since, last, stream=stream)
    with redis_errors("group rewind failed"):
        client.xgroup_setid(stream, group, id_before(since))
    return exposed


def count_entries(
    client: redis.Redis, start: str, end: str = "+", *, stream: str = keys.ARTICLES_STREAM
) -> int:
    """How many entries ``stream`` holds in [start, end], counted in Redis page by page.

    Raises:
        RedisUnavailable: Redis failed.
    """
    total, cursor = 0, start
    while True:
        with redis_errors("stream count failed"):
            found, last = _COUNT(
                client, {"stream": stream}, {"start": cursor, "stop": end, "page": _PAGE}
            )
        total += int(found)
        if int(found) < _PAGE:
            return total
        cursor = f"({_text(last)}"


def read_range(
    client: redis.Redis, start: str, end: str = "+", *, stream: str = keys.ARTICLES_STREAM
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(stream id, article) for each entry in [start, end]; entries without a body are skipped.

    Raises:
        RedisUnavailable: Redis failed.
    """
    cursor = start
    while True:
        with redis_errors("stream read failed"):
            rows: Any = client.xrange(stream, cursor, end, count=_PAGE)
        for raw_id, fields in rows:
            body = _decode(fields.get(b"body"))
            if body is None:
                log.warning("entry %s of %s has no article body", _text(raw_id), stream)
                continue
            yield _text(raw_id), body
        if len(rows) < _PAGE:
            return
        cursor = f"({_text(rows[-1][0])}"


def _last_delivered(client: redis.Redis, group: str, stream: str) -> str:
    with redis_errors(f"cannot read groups of {stream}"):
        try:
            groups: Any = client.xinfo_groups(stream)
        except redis.ResponseError as exc:
            if "no such key" not in str(exc).lower():
                raise
            groups = []
    for info in groups:
        if _text(info["name"]) == group:
            return _text(info["last-delivered-id"])
    raise ConfigError(f"no consumer group {group!r} on {stream}")


def _id_parts(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)
