"""Reading the article stream (``newsflow tail``, the demo, tests)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import redis

from pipeline import keys
from pipeline.connection import redis_errors
from pipeline.publish import decode_body


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamArticle:
    """One entry of ``newsflow:articles``: its stream id and decoded article."""

    stream_id: str
    article_id: str
    schema: str
    article: dict[str, Any]


def read_articles(
    client: redis.Redis, *, start: str = "$", block_ms: int = 1000
) -> Iterator[StreamArticle | None]:
    """Yield articles after ``start`` as they arrive; ``None`` each time a block times out.

    ``start`` is a stream id, ``0`` for the whole stream, or ``$`` for new entries only.

    Raises:
        RedisUnavailable: the stream could not be read.
    """
    last = start
    if last == "$":
        last = _last_id(client)
    while True:
        with redis_errors("stream read failed"):
            batch: Any = client.xread({keys.ARTICLES_STREAM: last}, count=100, block=block_ms)
        if not batch:
            yield None
            continue
        for raw_id, fields in batch[0][1]:
            last = raw_id.decode()
            yield _decode(last, fields)


def _last_id(client: redis.Redis) -> str:
    with redis_errors("stream read failed"):
        newest: Any = client.xrevrange(keys.ARTICLES_STREAM, count=1)
    return newest[0][0].decode() if newest else "0"


def _decode(stream_id: str, fields: dict[bytes, bytes]) -> StreamArticle:
    return StreamArticle(
        stream_id=stream_id,
        article_id=fields.get(b"id", b"").decode(),
        schema=fields.get(b"schema", b"").decode(),
        article=decode_body(fields.get(b"body", b"{}")),
    )


def outcome_counts(client: redis.Redis) -> dict[str, int]:
    """Outcome name -> count over all feeds.

    Raises:
        RedisUnavailable: Redis could not be read.
    """
    with redis_errors("stats read failed"):
        raw: Any = client.hgetall(keys.OUTCOME_COUNTS)
    return {k.decode(): int(v) for k, v in raw.items()}
