"""pipeline.polling.registry: the runtime feed list the workers read (real Redis)."""

from __future__ import annotations

import redis

from pipeline.polling.registry import FeedLookup, add_feed, registered_feed, remove_feed
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
