"""pipeline.polling.registry: the runtime feed list the workers read (real Redis)."""

from __future__ import annotations

import gzip
from collections.abc import Iterator

import pytest
import redis

from pipeline import keys
from pipeline.fetch.client import Fetcher
from pipeline.local.site import LocalSite
from pipeline.polling.registry import (
    FeedLookup,
    add_feed,
    find_feeds,
    registered_feed,
    registered_feeds,
    remove_feed,
)
from pipeline.settings import FeedConfig, Settings
from tests.commands import FIXTURES
from tests.factories import respond

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


@pytest.fixture
def fetcher(settings: Settings) -> Iterator[Fetcher]:
    fetcher = Fetcher(settings.fetch)
    yield fetcher
    fetcher.close()


SITEMAPS = [
    "/feeds/sitemaps/plain.xml",
    "/feeds/sitemaps/index.xml",
    "/feeds/sitemaps/news.xml",
    "/feeds/sitemaps/archive.xml.gz",  # served as application/octet-stream
    "/feeds/sitemaps/long_prolog.xml",
    "/feeds/sitemaps/truncated.xml",
    "/feeds/sitemaps/truncated.xml.gz",
]


@pytest.mark.parametrize("path", SITEMAPS)
def test_find_feeds_takes_every_kind_of_sitemap(
    fetcher: Fetcher, fixture_site: LocalSite, path: str
) -> None:
    """Regression: only feeds were recognised, so ``feeds add`` refused every sitemap."""
    assert find_feeds(fetcher, fixture_site.url(path)) == [fixture_site.url(path)]


@pytest.mark.parametrize("content_type", ["application/x-gzip", "application/gzip"])
def test_find_feeds_takes_a_gzipped_sitemap_whatever_its_gzip_type(
    fetcher: Fetcher, fixture_site: LocalSite, content_type: str
) -> None:
    body = gzip.compress((FIXTURES / "feeds" / "sitemaps" / "plain.xml").read_bytes())
    fixture_site.routes["/s.xml.gz"] = respond(200, body, content_type)
    assert find_feeds(fetcher, fixture_site.url("/s.xml.gz")) == [fixture_site.url("/s.xml.gz")]


def test_find_feeds_still_refuses_what_is_neither_feed_nor_sitemap(
    fetcher: Fetcher, fixture_site: LocalSite
) -> None:
    fixture_site.routes["/other.xml"] = respond(
        200, b'<x:urlset xmlns:x="https://other.example/ns"/>', "application/xml"
    )
    assert find_feeds(fetcher, fixture_site.url("/other.xml")) == []


ROBOTS = """User-agent: *
Disallow: /private/
SITEMAP: {base}/feeds/sitemaps/index.xml
Sitemap: /feeds/sitemaps/news.xml
sitemap:{base}/missing-sitemap.xml
Sitemap: ftp://files.example/sitemap.xml
Sitemap: {base}/feeds/sitemaps/index.xml
"""


def test_find_feeds_on_a_site_root_takes_the_sitemaps_its_robots_txt_declares(
    fetcher: Fetcher, fixture_site: LocalSite
) -> None:
    """Without feeds declared or at a well-known path, a site root's robots.txt ``Sitemap:``
    lines are used: those that answer with a sitemap, once each."""
    base = fixture_site.base_url
    fixture_site.routes["/"] = respond(200, b"<html><head></head><body>Home</body></html>")
    fixture_site.routes["/robots.txt"] = respond(
        200, ROBOTS.format(base=base).encode(), "text/plain"
    )
    assert find_feeds(fetcher, fixture_site.url("/")) == [
        f"{base}/feeds/sitemaps/index.xml",
        f"{base}/feeds/sitemaps/news.xml",
    ]
    fixture_site.routes["/section/"] = fixture_site.routes["/"]
    assert find_feeds(fetcher, fixture_site.url("/section/")) == []  # not a site root
