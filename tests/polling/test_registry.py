"""pipeline.polling.registry: the runtime feed list the workers read (real Redis)."""

from __future__ import annotations

import redis

from pipeline import keys
from pipeline.polling.registry import (
    FeedLookup,
    add_feed,
    registered_feed,
    registered_feeds,
    remove_feed,
)
from pipeline.settings import FeedConfig

URL = "https://news.example/feed.xml"


def test_registered_feed_reads_one_feed(redis_client: redis.Redis) -> None:
    assert registered_feed(redis_client, URL) is None
    add_feed(redis_client, FeedConfig(url=URL, headers={"X-Token": "a"}, proxy="http://p:3128"))
    feed = registered_feed(redis_client, URL)
    assert feed is not None and feed.headers == {"X-Token": "a"} and feed.proxy == "http://p:3128"


def test_lookup_sees_an_edited_feed_after_its_ttl(redis_client: redis.Redis) -> None:
    now = [0.0]
    lookup = FeedLookup(redis_client, ttl_s=30, clock=lambda: now[0])
    assert lookup.get(URL) is None
    add_feed(redis_client, FeedConfig(url=URL, headers={"X-Token": "a"}))
    assert lookup.get(URL) is None  # cached: no round trip per article
    now[0] = 31
    first = lookup.get(URL)
    assert first is not None and first.headers == {"X-Token": "a"}
    add_feed(redis_client, FeedConfig(url=URL, headers={"X-Token": "b"}))
    remove_feed(redis_client, "https://other.example/")
    now[0] = 62
    edited = lookup.get(URL)
    assert edited is not None and edited.headers == {"X-Token": "b"}


def test_an_invalid_stored_feed_is_skipped_not_fatal(redis_client: redis.Redis) -> None:
    """A feed stored by an older version that today's validation refuses (a header value
    with CR/LF) is logged and skipped; the other feeds load."""
    add_feed(redis_client, FeedConfig(url=URL))
    bad = b'{"url": "https://bad.example/feed", "headers": {"X-A": "a\\r\\nInjected: 1"}}'
    redis_client.hset(keys.FEED_REGISTRY, "https://bad.example/feed", bad)
    assert [f.url for f in registered_feeds(redis_client)] == [URL]
    assert registered_feed(redis_client, "https://bad.example/feed") is None
