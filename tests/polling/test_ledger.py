"""pipeline.polling.ledger: sent entries are tracked until their outcome (real Redis)."""

from __future__ import annotations

import redis

from pipeline import keys
from pipeline.dedupe import url_id
from pipeline.models import OutcomeKind
from pipeline.polling.ledger import pending_entries, record_sent, sweep_ledger
from pipeline.publish import Publisher
from pipeline.settings import Settings
from tests.factories import entry_for, make_article

A, B, C = (f"https://example.com/{n}" for n in "abc")


def test_an_outcome_takes_the_entry_out_of_the_ledger(
    redis_client: redis.Redis, settings: Settings
) -> None:
    record_sent(redis_client, [entry_for(u).to_message() for u in (A, B, C)], now=100.0)
    assert pending_entries(redis_client) == 3
    publisher = Publisher(redis_client, settings)
    publisher.publish_article(make_article(A), entry_for(A))
    publisher.record_outcome(entry_for(B), OutcomeKind.DROPPED, "not_an_article")
    assert redis_client.zrange(keys.SENT_ENTRIES, 0, -1) == [url_id(C).encode()]
    assert redis_client.hkeys(keys.SENT_MESSAGES) == [url_id(C).encode()]


def test_sweep_returns_overdue_entries_once_per_period_and_forgets_ended_ones(
    redis_client: redis.Redis, settings: Settings
) -> None:
    record_sent(redis_client, [entry_for(u).to_message() for u in (A, B)], now=100.0)
    redis_client.set(keys.url_outcome(url_id(A)), "published|x|1-0")  # ended, ledger raced
    assert sweep_ledger(redis_client, now=130.0, overdue_after_s=60).overdue == ()
    sweep = sweep_ledger(redis_client, now=170.0, overdue_after_s=60)
    assert sweep.settled == 1 and [m["url"] for m in sweep.overdue] == [B]
    assert sweep_ledger(redis_client, now=200.0, overdue_after_s=60).overdue == ()  # re-armed
    assert [
        m["url"] for m in sweep_ledger(redis_client, now=231.0, overdue_after_s=60).overdue
    ] == [B]
    assert pending_entries(redis_client) == 1


def test_updates_are_not_tracked(redis_client: redis.Redis) -> None:
    message = {**entry_for(A).to_message(), "update": True}
    record_sent(redis_client, [message], now=1.0)
    assert pending_entries(redis_client) == 0
