"""Sitemaps, sitemap indexes and Google News sitemaps: parser and poller."""

from __future__ import annotations

import calendar
import gzip

import pytest
import redis

from pipeline.errors import FeedError
from pipeline.local.site import LocalSite
from pipeline.models import FeedEntry
from pipeline.polling.sitemaps import is_sitemap, parse_sitemap
from pipeline.settings import FeedConfig, Settings
from tests.factories import poll_in_process, respond

NOW = calendar.timegm((2026, 11, 28, 12, 0, 0))


def news_sitemap(base: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
  <url><loc>{base}/fresh</loc><lastmod>2026-11-28T10:00:00Z</lastmod>
    <news:news><news:publication_date>2026-11-28T09:00:00+01:00</news:publication_date>
    <news:title>Fresh story</news:title></news:news></url>
  <url><loc>{base}/old</loc>
    <news:news><news:publication_date>2026-11-01T09:00:00Z</news:publication_date>
    <news:title>Old story</news:title></news:news></url>
  <url><loc>javascript:alert(1)</loc></url>
  <url><loc>{base}/plain</loc><lastmod>2026-11-27</lastmod></url>
</urlset>""".encode()


def test_news_sitemap_entries_age_filter_and_bad_links() -> None:
    parsed = parse_sitemap(
        news_sitemap("https://n.example"),
        "https://n.example/sitemap.xml",
        max_entries=10,
        news_max_age_s=2 * 86400,
        now=NOW,
    )
    assert [(e.url, e.title, e.published_at, e.updated_at) for e in parsed.feed.entries] == [
        (
            "https://n.example/fresh",
            "Fresh story",
            "2026-11-28T08:00:00+00:00",
            "2026-11-28T10:00:00+00:00",
        ),
        ("https://n.example/plain", "", None, "2026-11-27T00:00:00+00:00"),
    ]
    assert parsed.feed.skipped == 2 and parsed.children == ()


def test_index_gzip_and_hostile_inputs() -> None:
    index = (
        b'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<sitemap><loc>https://n.example/s1.xml</loc></sitemap>"
        b"<sitemap><loc>file:///etc/passwd</loc></sitemap></sitemapindex>"
    )
    assert is_sitemap(gzip.compress(index))
    parsed = parse_sitemap(
        gzip.compress(index), "https://n.example/index.xml", max_entries=10, news_max_age_s=86400
    )
    assert parsed.children == ("https://n.example/s1.xml",)
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE u [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<urlset><url><loc>https://n.example/&x;</loc></url></urlset>"
    )
    entries = parse_sitemap(xxe, "u", max_entries=10, news_max_age_s=86400).feed.entries
    assert all("root:" not in e.url for e in entries)
    with pytest.raises(FeedError):
        parse_sitemap(b"<urlset><url>", "u", max_entries=10, news_max_age_s=86400)
    with pytest.raises(FeedError, match="50 MB"):
        parse_sitemap(
            gzip.compress(b"<urlset>" + b" " * (51 * 1024 * 1024)),
            "u",
            max_entries=10,
            news_max_age_s=86400,
        )


def test_poller_follows_a_sitemap_index(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite
) -> None:
    base = fixture_site.base_url
    child = (
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<url><loc>{base}/a</loc></url><url><loc>{base}/b</loc></url></urlset>"
    ).encode()
    index = (
        f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<sitemap><loc>{base}/s1.xml</loc></sitemap>"
        f"<sitemap><loc>{base}/missing.xml</loc></sitemap></sitemapindex>"
    ).encode()
    fixture_site.routes["/index.xml"] = respond(200, index, "application/xml")
    fixture_site.routes["/s1.xml"] = respond(200, child, "application/xml")
    feed = FeedConfig(url=fixture_site.url("/index.xml"))
    sink: list[FeedEntry] = []
    result = poll_in_process(feed, redis_client, settings, sink.extend)
    assert result.status == "ok" and result.new == 2
    assert [e.url for e in sink] == [f"{base}/a", f"{base}/b"]
    assert all(e.feed_url == feed.url for e in sink)
