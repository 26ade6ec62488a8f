"""pipeline.polling.claim: due feeds shared by any number of pollers (real Redis)."""

from __future__ import annotations

import time

import redis

from pipeline import keys
from pipeline.polling.claim import claim_due, give_back
from pipeline.polling.registry import add_feed
from pipeline.settings import FeedConfig


def _register(client: redis.Redis, count: int) -> list[str]:
    urls = [f"https://news{i}.example/feed.xml" for i in range(count)]
    for url in urls:
        add_feed(client, FeedConfig(url=url))
    return urls


def test_two_pollers_never_take_the_same_feed(redis_client: redis.Redis) -> None:
    urls = _register(redis_client, 30)
    now = time.time()
    first = claim_due(redis_client, now=now, ttl_s=60, limit=20)
    second = claim_due(redis_client, now=now, ttl_s=60, limit=20)
    taken = [f.url for f in first] + [f.url for f in second]
    assert len(first) == 20 and len(second) == 10
    assert sorted(taken) == sorted(urls)
    assert claim_due(redis_client, now=now, ttl_s=60, limit=20) == []


def test_a_claim_that_runs_out_makes_the_feed_due_again(redis_client: redis.Redis) -> None:
    (url,) = _register(redis_client, 1)
    now = time.time()
    assert [f.url for f in claim_due(redis_client, now=now, ttl_s=60, limit=5)] == [url]
    assert claim_due(redis_client, now=now + 59, ttl_s=60, limit=5) == []
    assert [f.url for f in claim_due(redis_client, now=now + 61, ttl_s=60, limit=5)] == [url]


def test_given_back_feeds_are_due_at_once_and_removed_ones_stay_gone(
    redis_client: redis.Redis,
) -> None:
    urls = _register(redis_client, 2)
    feeds = claim_due(redis_client, now=time.time(), ttl_s=600, limit=5)
    redis_client.zrem(keys.FEED_SCHEDULE, urls[1])  # removed while claimed
    give_back(redis_client, feeds)
    assert [f.url for f in claim_due(redis_client, now=time.time(), ttl_s=600, limit=5)] == [
        urls[0]
    ]


def test_unregistered_and_disabled_feeds_leave_the_schedule(redis_client: redis.Redis) -> None:
    urls = _register(redis_client, 2)
    add_feed(redis_client, FeedConfig(url=urls[1], enabled=False))
    redis_client.zadd(keys.FEED_SCHEDULE, {urls[1]: 0, "https://gone.example/": 0})
    taken = claim_due(redis_client, now=time.time(), ttl_s=60, limit=5)
    assert [f.url for f in taken] == [urls[0]]
    assert redis_client.zscore(keys.FEED_SCHEDULE, "https://gone.example/") is None
    assert redis_client.zscore(keys.FEED_SCHEDULE, urls[1]) is None


def test_a_schedule_written_before_claims_is_read_as_it_is(redis_client: redis.Redis) -> None:
    """The schedule's format did not change: URL -> next poll time, nothing to migrate."""
    urls = _register(redis_client, 3)
    now = time.time()
    redis_client.zadd(keys.FEED_SCHEDULE, {urls[0]: now - 5, urls[1]: now + 100, urls[2]: 0})
    taken = claim_due(redis_client, now=now, ttl_s=60, limit=5)
    assert [f.url for f in taken] == [urls[2], urls[0]]
