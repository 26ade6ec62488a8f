"""Polling against a real Redis and the local sample site."""

from __future__ import annotations

import time

import pytest
import redis

from pipeline import keys
from pipeline.fetch import Fetcher
from pipeline.local_site import LocalSite
from pipeline.models import FeedEntry
from pipeline.politeness import HostGate
from pipeline.poll import due_feeds, poll_feed
from pipeline.settings import FeedConfig, Settings
from tests.sites import respond


def _poll(feed: FeedConfig, client: redis.Redis, settings: Settings, sink: list[FeedEntry]) -> str:
    fetcher = Fetcher(settings.fetch)
    try:
        return poll_feed(
            feed,
            fetcher=fetcher,
            client=client,
            settings=settings,
            enqueue=sink.append,
            gate=HostGate(client, settings.fetch),
        ).status
    finally:
        fetcher.close()


def test_new_entries_once_then_not_modified(
    redis_client: redis.Redis, settings: Settings, sample_site: LocalSite
) -> None:
    feed = FeedConfig(url=sample_site.url("/feeds/world.xml"))
    sink: list[FeedEntry] = []
    assert _poll(feed, redis_client, settings, sink) == "ok"
    assert sorted(e.url.rsplit("/", 1)[-1] for e in sink) == [
        "coral-survey.html?utm_source=rss&utm_medium=feed",
        "library-hours.html",
        "tram-line-copy.html",
        "tram-line.html",
    ]
    assert _poll(feed, redis_client, settings, sink) == "not_modified"
    assert len(sink) == 4
    state = redis_client.hgetall(keys.feed_state(feed.url))
    assert state[b"items_seen"] == b"4" and state[b"error_streak"] == b"0"


def test_entry_is_not_marked_seen_when_enqueue_fails(
    redis_client: redis.Redis, settings: Settings, sample_site: LocalSite
) -> None:
    feed = FeedConfig(url=sample_site.url("/feeds/science.json"))

    def broken(entry: FeedEntry) -> None:
        raise ConnectionError("broker down")

    fetcher = Fetcher(settings.fetch)
    with pytest.raises(ConnectionError):
        poll_feed(
            feed,
            fetcher=fetcher,
            client=redis_client,
            settings=settings,
            enqueue=broken,
            gate=HostGate(redis_client, settings.fetch),
        )
    assert redis_client.hlen(keys.feed_seen(feed.url)) == 0
    sink: list[FeedEntry] = []
    _poll(feed, redis_client, settings, sink)
    assert len(sink) == 2


def test_failing_feed_backs_off_and_stays_scheduled(
    redis_client: redis.Redis, settings: Settings, sample_site: LocalSite
) -> None:
    feed = FeedConfig(url=sample_site.url("/feeds/missing.xml"), interval_s=60)
    for _ in range(3):
        assert _poll(feed, redis_client, settings, []) == "error"
    state = redis_client.hgetall(keys.feed_state(feed.url))
    assert state[b"error_streak"] == b"3" and b"HTTP 404" in state[b"error"]
    delay = float(state[b"next_poll"]) - time.time()
    assert 60 * 8 - 5 < delay <= 60 * 8
    assert due_feeds(redis_client, (feed,), time.time() + delay + 1) == [feed]
    assert due_feeds(redis_client, (feed,), time.time()) == []


def test_entry_with_a_later_updated_time_is_enqueued_as_an_update(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite
) -> None:
    def atom(updated: str) -> bytes:
        return (
            '<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
            f'<entry><id>x</id><title>Story</title><link href="{fixture_site.url("/s")}"/>'
            f"<published>2026-11-20T08:00:00Z</published><updated>{updated}</updated></entry>"
            "</feed>"
        ).encode()

    feed = FeedConfig(url=fixture_site.url("/feed.atom"))
    sink: list[FeedEntry] = []
    for updated in ("2026-11-20T08:00:00Z", "2026-11-20T08:00:00Z", "2026-11-21T09:30:00Z"):
        fixture_site.routes["/feed.atom"] = respond(200, atom(updated), "application/atom+xml")
        _poll(feed, redis_client, settings, sink)
    assert [(e.update, e.updated_at) for e in sink] == [
        (False, "2026-11-20T08:00:00+00:00"),
        (True, "2026-11-21T09:30:00+00:00"),
    ]
    assert redis_client.get(keys.ENQUEUED_COUNT) == b"1"


def test_same_bytes_without_validators_cost_no_parse(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite
) -> None:
    body = (
        '<rss version="2.0"><channel><title>t</title>'
        f"<item><link>{fixture_site.url('/a')}</link></item></channel></rss>"
    ).encode()
    fixture_site.routes["/lying.xml"] = respond(200, body, "application/rss+xml")  # no ETag
    feed = FeedConfig(url=fixture_site.url("/lying.xml"))
    sink: list[FeedEntry] = []
    statuses = [_poll(feed, redis_client, settings, sink) for _ in range(3)]
    assert statuses == ["ok", "not_modified", "not_modified"] and len(sink) == 1
    fixture_site.routes["/lying.xml"] = respond(
        200,
        body.replace(
            b"</channel>", f"<item><link>{fixture_site.url('/b')}</link></item></channel>".encode()
        ),
        "application/rss+xml",
    )
    assert _poll(feed, redis_client, settings, sink) == "ok" and len(sink) == 2
