"""Consumer groups over a stream: at-least-once delivery, reclaim, dead letters.

A :class:`Consumer` first re-reads its own pending entries (what it held when it last stopped),
then reads new ones; every ``claim_every_s`` it takes over entries idle for ``min_idle_ms``
(held by consumers that died, or its own that failed) with XAUTOCLAIM. An entry delivered more
than ``max_deliveries`` times goes to ``keys.DEAD_STREAM`` instead of to the caller; an entry
whose data was trimmed away is acked and counted. Pending entries belong to a consumer *name*,
so names must be stable across restarts. Nothing here deletes consumers: XGROUP DELCONSUMER
makes a consumer's pending entries unclaimable. Replaying history is in
:mod:`pipeline.streams.replay`.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import redis

from pipeline import keys
from pipeline.connection import LuaScript, flat_fields, redis_errors
from pipeline.publish import decode_body

log = logging.getLogger(__name__)

_ERRORS_KEPT = 1000
_DEAD_LETTER = LuaScript(
    "pipeline.streams", "consumer_dead.lua", keys=("stream", "dead"), args=("group", "stream_id")
)

RawEntry = tuple[bytes, dict[bytes, bytes]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """One stream entry handed to a consumer; ack it once its side effect is done."""

    stream_id: str
    article_id: str
    fields: Mapping[str, bytes]
    body: dict[str, Any] | None
    """The decoded ``body`` field, or None if missing or not JSON."""
    deliveries: int
    """How often the group has delivered this entry, this time included (1 = first)."""

    @classmethod
    def from_entry(cls, stream_id: str, raw: Mapping[bytes, bytes], deliveries: int) -> Delivery:
        """The delivery of a raw XREADGROUP/XAUTOCLAIM entry."""
        fields = {_text(name): value for name, value in raw.items()}
        return cls(
            stream_id=stream_id,
            article_id=_text(fields.get("id", b"")),
            fields=fields,
            body=_decode(fields.get("body")),
            deliveries=deliveries,
        )


def default_consumer_name() -> str:
    """This host's name: stable across restarts, unlike ``<hostname>-<pid>``."""
    return socket.gethostname()


def ensure_group(
    client: redis.Redis, group: str, *, stream: str = keys.ARTICLES_STREAM, start: str = "0"
) -> bool:
    """Create ``group`` on ``stream`` (and the stream) at ``start``; False if it existed.

    Raises:
        RedisUnavailable: Redis failed.
    """
    with redis_errors(f"cannot create group {group} on {stream}"):
        try:
            client.xgroup_create(stream, group, id=start, mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
            return False
    return True


class Consumer:
    """One named member of a consumer group: at-least-once delivery of a stream's entries.

    Dead letters (``keys.DEAD_STREAM``) have the fields ``type`` (``consumer_dead``),
    ``id`` (article id), ``url`` (the article's, empty if its body is not JSON), ``reason``
    (``max_deliveries``), ``attempts`` and ``deliveries`` (times it was handed out, =
    ``max_deliveries``), ``error`` (last :meth:`fail` reason seen by this process, else empty),
    ``at`` (ms), ``stream``, ``group`` and ``stream_id`` (the entry in ``stream``); the README's
    "Dead letters" section, and :mod:`pipeline.streams.deadletter` for how one is retried (by
    rewinding the group). The client must return bytes (no ``decode_responses``), as
    ``pipeline.connection.connect_redis`` builds it.
    """

    def __init__(
        self,
        client: redis.Redis,
        group: str,
        name: str | None = None,
        *,
        stream: str = keys.ARTICLES_STREAM,
        min_idle_ms: int = 60_000,
        claim_every_s: float = 10.0,
        max_deliveries: int = 5,
        count: int = 10,
        block_ms: int = 1000,
    ) -> None:
        self.name = name or default_consumer_name()
        self.group = group
        self.stream = stream
        self.trimmed = 0
        """Pending entries acked because their data had been trimmed from the stream."""
        self.dead_lettered = 0
        self._client = client
        self._min_idle_ms = min_idle_ms
        self._claim_every_s = claim_every_s
        self._max_deliveries = max_deliveries
        self._count = count
        self._block_ms = block_ms
        self._errors: dict[str, str] = {}
        self._stopping = False
        self._claim_cursor = "0-0"
        self._next_claim = 0.0

    def deliveries(self, *, stop_when_idle: bool = False) -> Iterator[Delivery]:
        """Own pending entries, then new and reclaimed ones, until :meth:`stop`.

        Entries are read ``count`` at a time. Read-ahead entries not yielded (stop, the caller
        breaks off, or ``min_idle_ms / 2`` passed since the read, so that another consumer
        could claim them) are handed back: claimable at once, delivery counter restored.

        Raises:
            RedisUnavailable: Redis failed (also: the group does not exist).
        """
        for batch in self._batches(stop_when_idle):
            rest = list(batch)
            fresh_until = time.monotonic() + self._min_idle_ms / 2000
            try:
                while rest and not self._stopping:
                    yield rest.pop(0)
                    if time.monotonic() >= fresh_until:
                        break
            finally:
                self._release(rest)
            if self._stopping:
                return

    def ack(self, delivery: Delivery) -> bool:
        """Acknowledge a processed entry; False if it was no longer pending.

        Raises:
            RedisUnavailable: Redis failed; the entry stays pending.
        """
        self._errors.pop(delivery.stream_id, None)
        with redis_errors("ack failed"):
            acked: Any = self._client.xack(self.stream, self.group, delivery.stream_id)
        return bool(acked)

    def fail(self, delivery: Delivery, error: str) -> None:
        """Leave an entry pending (retried after ``min_idle_ms``), remembering why it failed."""
        self._errors.pop(delivery.stream_id, None)
        self._errors[delivery.stream_id] = error
        if len(self._errors) > _ERRORS_KEPT:
            del self._errors[next(iter(self._errors))]

    def stop(self) -> None:
        """End :meth:`deliveries` after the current delivery (safe in a signal handler)."""
        self._stopping = True

    def _batches(self, stop_when_idle: bool) -> Iterator[list[Delivery]]:
        yield from self._own_pending()
        while not self._stopping:
            claimed = self._claim_due()
            if claimed:
                yield claimed
                continue
            fresh = self._read_new()
            if fresh is None and stop_when_idle:
                return
            if fresh:
                yield fresh

    def _own_pending(self) -> Iterator[list[Delivery]]:
        cursor = "0"
        while not self._stopping:
            entries = self._read(cursor)
            if not entries:
                return
            cursor = _text(entries[-1][0])
            yield self._prepare(entries)

    def _read_new(self) -> list[Delivery] | None:
        """New entries, or None if none arrived within the block (capped by the next claim)."""
        until_claim_ms = int((self._next_claim - time.monotonic()) * 1000)
        entries = self._read(">", block_ms=max(1, min(self._block_ms, until_claim_ms)))
        return self._prepare(entries) if entries else None

    def _read(self, position: str, *, block_ms: int | None = None) -> list[RawEntry]:
        with redis_errors("stream read failed"):
            reply: Any = self._client.xreadgroup(
                self.group, self.name, {self.stream: position}, count=self._count, block=block_ms
            )
        return list(reply[0][1]) if reply else []

    def _claim_due(self) -> list[Delivery]:
        """Deliveries from at most one XAUTOCLAIM sweep over the PEL, if a sweep is due."""
        if time.monotonic() < self._next_claim:
            return []
        while True:
            found = self._claim_batch()
            if found or self._claim_cursor == "0-0":
                return found

    def _claim_batch(self) -> list[Delivery]:
        start = self._claim_cursor
        with redis_errors("claim failed"):
            reply: Any = self._client.xautoclaim(
                self.stream, self.group, self.name, self._min_idle_ms, start, count=self._count
            )
        self._claim_cursor = _text(reply[0])
        if self._claim_cursor == "0-0":
            self._next_claim = time.monotonic() + self._claim_every_s
        entries = [(sid, fields) for sid, fields in reply[1] if sid is not None]
        deleted = [_text(sid) for sid in reply[2]] if len(reply) > 2 else []  # Redis >= 7.0
        if len(entries) < len(reply[1]):  # Redis < 7.0: trimmed entries come back as nil
            deleted += self._trimmed_own_pending(start)
        self._drop_trimmed(deleted)
        if entries:
            log.info("%s claimed %d idle entries of %s", self.name, len(entries), self.group)
        return self._prepare(entries)

    def _trimmed_own_pending(self, start: str) -> list[str]:
        """Ids pending for this consumer from ``start`` whose data is gone from the stream."""
        with redis_errors("pending lookup failed"):
            rows: Any = self._client.xpending_range(
                self.stream, self.group, start, "+", self._count * 10, consumername=self.name
            )
            ids = [_text(row["message_id"]) for row in rows]
            pipe = self._client.pipeline(transaction=False)
            for sid in ids:
                pipe.xrange(self.stream, sid, sid, count=1)
            found: list[Any] = pipe.execute()
        return [sid for sid, rows in zip(ids, found, strict=True) if not rows]

    def _prepare(self, entries: Sequence[RawEntry]) -> list[Delivery]:
        """Deliveries for read entries: trimmed ones acked, over-delivered ones dead-lettered."""
        self._drop_trimmed([_text(sid) for sid, fields in entries if not fields])
        live = [(_text(sid), fields) for sid, fields in entries if fields]
        counts = self._delivery_counts([sid for sid, _ in live]) if live else {}
        out = []
        for sid, fields in live:
            deliveries = counts.get(sid)
            if deliveries is None:
                continue  # no longer ours: acked or claimed by another consumer meanwhile
            if deliveries > self._max_deliveries:
                self._dead_letter(sid, fields, deliveries)
            else:
                out.append(Delivery.from_entry(sid, fields, deliveries))
        return out

    def _delivery_counts(self, ids: Sequence[str]) -> dict[str, int]:
        pipe = self._client.pipeline(transaction=False)
        for sid in ids:
            pipe.xpending_range(self.stream, self.group, sid, sid, 1, consumername=self.name)
        with redis_errors("pending lookup failed"):
            replies: list[Any] = pipe.execute()
        return {
            _text(row["message_id"]): int(row["times_delivered"])
            for reply in replies
            for row in reply
        }

    def _drop_trimmed(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        with redis_errors("ack failed"):
            self._client.xack(self.stream, self.group, *ids)
        self.trimmed += len(ids)
        log.warning(
            "%s: %d pending entries of %s were trimmed away; acked",
            self.name,
            len(ids),
            self.stream,
        )

    def _dead_letter(self, stream_id: str, fields: Mapping[bytes, bytes], deliveries: int) -> None:
        handed_out = str(deliveries - 1)  # times handed out before this one
        body = _decode(fields.get(b"body")) or {}
        url = body.get("url")
        record = {
            "type": "consumer_dead",
            "id": fields.get(b"id", b""),
            "url": url if isinstance(url, str) else "",
            "reason": "max_deliveries",
            "attempts": handed_out,
            "error": self._errors.pop(stream_id, "")[:2000],
            "at": str(int(time.time() * 1000)),
            "stream": self.stream,
            "group": self.group,
            "stream_id": stream_id,
            "deliveries": handed_out,
        }
        with redis_errors("dead-letter write failed"):
            written = _DEAD_LETTER(
                self._client,
                {"stream": self.stream, "dead": keys.DEAD_STREAM},
                {"group": self.group, "stream_id": stream_id},
                more_args=flat_fields(record),
            )
        if written:
            self.dead_lettered += 1
            log.warning(
                "%s: entry %s dead-lettered after %d deliveries",
                self.name,
                stream_id,
                deliveries - 1,
            )

    def _release(self, rest: Sequence[Delivery]) -> None:
        """Hand read-ahead entries back: claimable at once, delivery counter restored."""
        if not rest:
            return
        pipe = self._client.pipeline(transaction=False)
        for item in rest:
            pipe.xclaim(
                self.stream,
                self.group,
                self.name,
                0,
                [item.stream_id],
                idle=self._min_idle_ms,
                retrycount=item.deliveries - 1,
                justid=True,
            )
        try:
            pipe.execute()
        except redis.RedisError as exc:
            log.warning("%s: %d unprocessed entries stay pending: %s", self.name, len(rest), exc)


def _decode(body: bytes | None) -> dict[str, Any] | None:
    if body is None:
        return None
    try:
        decoded = decode_body(body)
    except msgspec.DecodeError:
        return None
    return decoded if isinstance(decoded, dict) else None


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
