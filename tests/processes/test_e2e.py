"""End to end: real redis-server, real Celery worker processes, the sample site over HTTP."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import redis

from pipeline import keys
from pipeline.local.redis_server import RedisServer
from pipeline.local.site import LocalSite
from pipeline.publish import decode_body
from pipeline.streams.tail import outcome_counts
from tests.commands import poll_once, queued_entries, wait_for, worker_env, write_feeds
from tests.factories import SAMPLE_EXPECTED as EXPECTED


def _stream_articles(client: redis.Redis) -> list[dict[str, Any]]:
    return [decode_body(fields[b"body"]) for _, fields in client.xrange(keys.ARTICLES_STREAM)]


def _path(url: bytes) -> str:
    return "/" + url.decode().split("/", 3)[3]


def test_feeds_to_stream_exact_articles_once(
    redis_server: RedisServer,
    redis_client: redis.Redis,
    sample_site: LocalSite,
    start_worker: Any,
    tmp_path: Path,
) -> None:
    write_feeds(tmp_path, [sample_site.url(p) for p in EXPECTED["feeds"]])
    env = worker_env(redis_server.url, tmp_path)
    start_worker(env)
    poll_once(env)
    want = len(EXPECTED["published"]) + EXPECTED["duplicates"]
    wait_for(lambda: sum(outcome_counts(redis_client).values()) >= want, 90, "all outcomes")

    articles = _stream_articles(redis_client)
    titles = Counter(a["title"] for a in articles)
    assert titles == Counter(EXPECTED["published"])
    assert outcome_counts(redis_client) == {"published": 6, "duplicate": 1}
    for article in articles:
        paragraphs = article["text"].split("\n\n")
        assert paragraphs[0] != article["title"]
        assert len(paragraphs) == len(set(paragraphs)), "a paragraph appears twice"
        assert "TT" not in paragraphs and "Share" not in paragraphs
        assert article["published_at"] and article["authors"]
        assert article["source"]["name"] in ("The Sample Gazette", "Metro Wire")
        assert "utm_" not in article["canonical_url"]
    events = [f for _, f in redis_client.xrange(keys.EVENTS_STREAM)]
    assert [e[b"type"] for e in events] == [b"duplicate"]
    # The original and its syndicated copy race on two workers: whichever lands first is
    # published, the other is recorded as its duplicate.
    tram = [a for a in articles if a["title"].startswith("Riverside tram line")]
    assert len(tram) == 1
    assert events[0][b"duplicate_of"].decode() == tram[0]["id"]
    pair = {"/articles/tram-line.html", "/syndicated/tram-line-copy.html"}
    assert {tram[0]["url"].split(sample_site.base_url)[1], _path(events[0][b"url"])} == pair

    # Polling again finds nothing new: the stream does not grow.
    poll_once(env)
    assert redis_client.xlen(keys.ARTICLES_STREAM) == 6


def test_unreachable_and_malformed_feeds_do_not_stop_the_others(
    redis_server: RedisServer,
    redis_client: redis.Redis,
    sample_site: LocalSite,
    fixture_site: LocalSite,
    tmp_path: Path,
) -> None:
    broken = fixture_site.url("/feeds/not-a-feed.html")
    missing = fixture_site.url("/feeds/missing.xml")
    good = sample_site.url("/feeds/science.json")
    write_feeds(tmp_path, [broken, missing, good])
    env = worker_env(redis_server.url, tmp_path)
    done = poll_once(env)
    assert f"feed={broken} status=error" in done.stderr
    assert f"feed={missing} status=error" in done.stderr and "HTTP 404" in done.stderr
    assert f"feed={good} status=ok new=2" in done.stderr
    assert len(queued_entries(redis_client)) == 2
