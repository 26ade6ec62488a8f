"""The ledger of entries sent to the workers and not ended yet: nothing is lost end to end.

Celery on Redis can lose a message in a window no setting closes: the reply to a worker's
BRPOP lost with its connection (a black-holed network path) after Redis removed the message
and before the worker wrote it to the unacked hash (kombu PR #1733, celery#4354; reliability
F-13). So every entry sent to the workers is written here with its message, the scripts that
record an outcome remove it (publish.lua, publish_record.lua), and the active poller sweeps
what is left: an entry with no outcome ``overdue_after_s`` after it was sent (longer than
any redelivery: twice the visibility timeout) is sent again. A resend of an entry that was
only slow ends as ``already``: outcomes are claimed once, so a resend never duplicates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import redis

from pipeline import keys
from pipeline.connection import redis_errors
from pipeline.dedupe import url_id

_SWEEP_BATCH = 1000


@dataclass(frozen=True, slots=True)
class Sweep:
    """What one sweep of the ledger found."""

    settled: int
    """Overdue entries that had an outcome after all (sent again earlier, or a race)."""
    overdue: tuple[dict[str, Any], ...]
    """Messages of the entries with no outcome: to send again (re-armed for another round)."""


def record_sent(client: redis.Redis, messages: Sequence[Mapping[str, Any]], now: float) -> None:
    """Write sent entry messages to the ledger (one round trip); updates are not tracked.

    Raises:
        RedisUnavailable: Redis could not be reached.
    """
    tracked = {url_id(m["url"]): m for m in messages if not m.get("update")}
    if not tracked:
        return
    with redis_errors("sent-entries ledger unavailable"):
        pipe = client.pipeline(transaction=False)
        pipe.zadd(keys.SENT_ENTRIES, dict.fromkeys(tracked, now))
        pipe.hset(
            keys.SENT_MESSAGES, mapping={i: msgspec.json.encode(m) for i, m in tracked.items()}
        )
        pipe.execute()


def sweep_ledger(client: redis.Redis, *, now: float, overdue_after_s: float) -> Sweep:
    """Forget overdue entries that have an outcome; re-arm and return the others' messages.

    Raises:
        RedisUnavailable: Redis could not be reached.
    """
    with redis_errors("sent-entries ledger unavailable"):
        found: Any = client.zrangebyscore(
            keys.SENT_ENTRIES, "-inf", now - overdue_after_s, start=0, num=_SWEEP_BATCH
        )
        ids = [i.decode() for i in found]
        if not ids:
            return Sweep(settled=0, overdue=())
        done = _with_outcome(client, ids)
        lost = [i for i in ids if i not in done]
        raw: Any = client.hmget(keys.SENT_MESSAGES, lost) if lost else []
        pipe = client.pipeline(transaction=False)
        if done:
            pipe.zrem(keys.SENT_ENTRIES, *done)
            pipe.hdel(keys.SENT_MESSAGES, *done)
        if lost:
            pipe.zadd(keys.SENT_ENTRIES, dict.fromkeys(lost, now))
        pipe.execute()
    overdue = tuple(msgspec.json.decode(m) for m in raw if m is not None)
    return Sweep(settled=len(done), overdue=overdue)


def pending_entries(client: redis.Redis) -> int:
    """How many sent entries have no outcome yet.

    Raises:
        RedisUnavailable: Redis could not be reached.
    """
    with redis_errors("sent-entries ledger unavailable"):
        return int(client.zcard(keys.SENT_ENTRIES))


def _with_outcome(client: redis.Redis, ids: list[str]) -> set[str]:
    pipe = client.pipeline(transaction=False)
    for entry_id in ids:
        pipe.exists(keys.url_outcome(entry_id))
    return {i for i, found in zip(ids, pipe.execute(), strict=True) if found}
