"""Sitemaps, sitemap indexes and Google News sitemaps: parser and poller."""

from __future__ import annotations

import calendar
import dataclasses
import gzip
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import pytest
import redis

from pipeline import keys
from pipeline.errors import FeedError
from pipeline.local.site import LocalSite
from pipeline.models import FeedEntry
from pipeline.polling import sitemaps
from pipeline.polling.poll import PollResult
from pipeline.polling.sitemaps import document_kind, parse_sitemap
from pipeline.settings import FeedConfig, Settings
from tests.commands import FIXTURES
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
    assert document_kind(gzip.compress(index)) == "sitemapindex"
    parsed = parse_sitemap(
        gzip.compress(index), "https://n.example/index.xml", max_entries=10, news_max_age_s=86400
    )
    assert [child.url for child in parsed.children] == ["https://n.example/s1.xml"]
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
            gzip.compress(b"<urlset>" + (b" " * 1024 * 1024 + b"<url/>") * 51),
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
    assert result.status == "warning" and result.new == 2  # the missing child is counted
    assert result.error.startswith(f"1 of 2 child sitemaps failed; first: {base}/missing.xml")
    assert [e.url for e in sink] == [f"{base}/a", f"{base}/b"]
    assert all(e.feed_url == feed.url for e in sink)


def _urlset(urls: list[str], tail: str = "</urlset>") -> bytes:
    locs = "".join(f"<url><loc>{u}</loc><lastmod>2026-11-27</lastmod></url>\n" for u in urls)
    return (f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n{locs}{tail}').encode()


_MEASURE = """
import resource, sys, time
from pipeline.polling import sitemaps
from pipeline.polling.sitemaps import document_kind, parse_sitemap
body = open(sys.argv[1], "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
assert document_kind(body) == "sitemap"
feed = parse_sitemap(body, "https://n.example/s.xml.gz", max_entries=500, news_max_age_s=1).feed
took = time.perf_counter() - start
grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(len(feed.entries), feed.warning, took, grew // 1024, sep="|")
"""


def test_a_huge_gzipped_sitemap_is_read_only_up_to_the_cap_in_little_memory(
    tmp_path: Path,
) -> None:
    """100,000 URLs (5.7 MB inflated): parsing used to build them all (~90 MB more RSS)."""
    urls = [f"https://n.example/{n % 97}/story-{n * 7919}" for n in range(100_000)]
    path = tmp_path / "big.xml.gz"
    path.write_bytes(gzip.compress(_urlset(urls), 6))
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    entries, warning, took, grew_mb = done.stdout.strip().split("|")
    print(f"\n100k-URL gzipped sitemap: {float(took):.3f} s, peak RSS +{grew_mb} MB")
    assert int(entries) == 500 and "capped at 500" in warning
    assert int(grew_mb) < 30 and float(took) < 10


def test_reading_stops_at_the_cap() -> None:
    """What follows the cap is not read: not even a syntax error there is seen."""
    urls = [f"https://n.example/{n}" for n in range(600)]
    body = _urlset(urls, tail="<url><loc>&broken;<<<")
    for data in (body, gzip.compress(body)):
        feed = parse_sitemap(data, "u", max_entries=500, news_max_age_s=86400).feed
        assert [e.url for e in feed.entries] == urls[:500]
        assert feed.warning.startswith("capped at 500 entries")
    whole = parse_sitemap(_urlset(urls[:500]), "u", max_entries=500, news_max_age_s=86400).feed
    assert len(whole.entries) == 500 and whole.warning == ""  # exactly the cap: not capped
    past = parse_sitemap(body, "u", max_entries=700, news_max_age_s=86400).feed  # read: seen
    assert len(past.entries) == 600
    assert past.warning.startswith("truncated sitemap: kept its 600 complete <url> (the XML")
    with pytest.raises(FeedError, match="invalid sitemap"):  # an error with more after it
        parse_sitemap(
            _urlset(urls, tail="<url><loc><<<</loc></url></urlset>"),
            "u",
            max_entries=700,
            news_max_age_s=86400,
        )


def test_gzip_members_padding_corruption_and_odd_roots() -> None:
    first, second = _urlset(["https://n.example/1"]), _urlset(["https://n.example/2"])
    parse = parse_sitemap(
        gzip.compress(first[:50]) + gzip.compress(first[50:]) + b"\0" * 16,
        "u",
        max_entries=10,
        news_max_age_s=86400,
    )
    assert [e.url for e in parse.feed.entries] == ["https://n.example/1"]
    big = gzip.compress(_urlset([f"https://n.example/{n * 7919}" for n in range(2000)]))
    assert document_kind(big[: len(big) // 2]) == "sitemap"  # the rest is not looked at
    for bad, message in (
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbage", "invalid gzip"),
        (gzip.compress(second)[:-4] + b"\xff" * 4, "invalid gzipped data: .*incorrect length"),
        (b"<html><body><url><loc>https://n.example/x</loc></url></body></html>", "<html>"),
        (b"", "invalid sitemap"),
    ):
        with pytest.raises(FeedError, match=message):
            parse_sitemap(bad, "u", max_entries=10, news_max_age_s=86400)
    with pytest.raises(FeedError, match="invalid gzip"):
        document_kind(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbage")


def test_out_of_range_dates_and_unparseable_locs_are_no_date_and_skipped() -> None:
    body = (
        news_sitemap("https://n.example")
        .replace(b"2026-11-28T10:00:00Z", b"9999-12-31T23:59:59-01:00")
        .replace(b"2026-11-28T09:00:00+01:00", b"0001-01-01T00:00:00+01:00")
    )
    body = body.replace(b"javascript:alert(1)", b"http://[::1/a")
    feed = parse_sitemap(body, "u", max_entries=10, news_max_age_s=2 * 86400, now=NOW).feed
    assert [(e.url, e.published_at, e.updated_at) for e in feed.entries] == [
        ("https://n.example/fresh", None, None),
        ("https://n.example/plain", None, "2026-11-27T00:00:00+00:00"),
    ]
    assert feed.skipped == 2


def test_one_bad_child_sitemap_fails_alone(
    redis_client: redis.Redis,
    settings: Settings,
    fixture_site: LocalSite,
    caplog: pytest.LogCaptureFixture,
) -> None:
    base = fixture_site.base_url
    children = {
        "/good-1.xml": respond(200, _urlset([f"{base}/a", f"{base}/b"]), "application/xml"),
        "/malformed.xml": respond(200, b"<urlset><url><loc>x</loc>", "application/xml"),
        "/html.xml": respond(200, b"<html><body>moved</body></html>", "application/xml"),
        "/bad.xml.gz": respond(200, b"\x1f\x8b\x08\x00garbage", "application/octet-stream"),
        "/missing.xml": respond(404, b"gone"),
        "/good-2.xml": respond(200, gzip.compress(_urlset([f"{base}/c"])), "application/xml"),
    }
    fixture_site.routes.update(children)
    index = "".join(f"<sitemap><loc>{base}{path}</loc></sitemap>" for path in children)
    fixture_site.routes["/index.xml"] = respond(
        200, f"<sitemapindex>{index}</sitemapindex>".encode(), "application/xml"
    )
    feed = FeedConfig(url=fixture_site.url("/index.xml"))
    sink: list[FeedEntry] = []
    result = poll_in_process(feed, redis_client, settings, sink.extend)
    assert [e.url for e in sink] == [f"{base}/a", f"{base}/b", f"{base}/c"]
    assert result.status == "warning" and result.new == 3
    assert result.error.startswith(f"4 of 6 child sitemaps failed; first: {base}/malformed.xml")
    for path in ("/malformed.xml", "/html.xml", "/bad.xml.gz", "/missing.xml"):
        assert f"child sitemap {base}{path} failed" in caplog.text


def test_an_index_whose_children_all_fail_is_an_error(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite
) -> None:
    base = fixture_site.base_url
    fixture_site.routes["/bad.xml"] = respond(200, b"<urlset><url>", "application/xml")
    index = f"<sitemapindex><sitemap><loc>{base}/bad.xml</loc></sitemap>"
    index += f"<sitemap><loc>{base}/missing.xml</loc></sitemap></sitemapindex>"
    fixture_site.routes["/index.xml"] = respond(200, index.encode(), "application/xml")
    feed = FeedConfig(url=fixture_site.url("/index.xml"))
    result = poll_in_process(feed, redis_client, settings, lambda entries: None)
    assert result.status == "error"
    assert f"all 2 child sitemaps failed; first: {base}/bad.xml" in result.error


def test_children_are_read_only_until_the_cap(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite
) -> None:
    base = fixture_site.base_url
    for n in range(3):
        urls = [f"{base}/{n}/{i}" for i in range(300)]
        fixture_site.routes[f"/c{n}.xml"] = respond(200, _urlset(urls), "application/xml")
    index = "".join(f"<sitemap><loc>{base}/c{n}.xml</loc></sitemap>" for n in range(3))
    fixture_site.routes["/index.xml"] = respond(
        200, f"<sitemapindex>{index}</sitemapindex>".encode(), "application/xml"
    )
    sink: list[FeedEntry] = []
    feed = FeedConfig(url=fixture_site.url("/index.xml"))
    result = poll_in_process(feed, redis_client, settings, sink.extend)
    assert len(sink) == 500 and result.status == "warning" and "capped at 500" in result.error
    assert fixture_site.count("/c2.xml") == 0  # not fetched once the cap was reached


def test_reading_stops_after_the_protocols_50000_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    """However few are kept (old news, unusable links), no more than 50,000 <url> are read."""
    assert sitemaps.MAX_ITEMS == 50_000
    monkeypatch.setattr(sitemaps, "MAX_ITEMS", 10)
    body = _urlset([f"ftp://n.example/{n}" for n in range(10)] + ["https://n.example/late"])
    feed = parse_sitemap(body, "u", max_entries=500, news_max_age_s=86400).feed
    assert feed.entries == () and feed.skipped == 10
    assert feed.warning == "read the first 10 <url> only (the sitemap protocol's limit)"
    whole = parse_sitemap(
        body[: body.rindex(b"<url>")] + b"</urlset>", "u", max_entries=500, news_max_age_s=86400
    ).feed
    assert whole.skipped == 10 and whole.warning == ""


SITEMAPS = FIXTURES / "feeds" / "sitemaps"


def _poll_fixture(
    site: LocalSite, client: redis.Redis, settings: Settings, path: str
) -> tuple[PollResult, list[str]]:
    """Poll ``path`` of the fixture site once; returns the result and the enqueued URLs."""
    sink: list[FeedEntry] = []
    result = poll_in_process(FeedConfig(url=site.url(path)), client, settings, sink.extend)
    return result, [e.url for e in sink]


def test_an_rss_feed_quoting_urlset_is_read_as_a_feed(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite
) -> None:
    """Regression: ``<urlset`` anywhere in the first 4 KB made any document a sitemap."""
    path = "/feeds/sitemaps/rss_quoting_urlset.xml"
    result, urls = _poll_fixture(fixture_site, redis_client, settings, path)
    assert result.status == "ok", result.error
    base = fixture_site.base_url
    assert urls == [f"{base}/notes/sitemaps.html", f"{base}/notes/indexes.html"]


def test_a_sitemap_whose_urlset_starts_after_a_long_prolog_is_read(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite
) -> None:
    """Regression: a ``<urlset>`` after 4 KB of comments was not looked for, so refused."""
    assert (SITEMAPS / "long_prolog.xml").read_bytes().index(b"<urlset") > 6000
    result, urls = _poll_fixture(
        fixture_site, redis_client, settings, "/feeds/sitemaps/long_prolog.xml"
    )
    assert result.status == "ok", result.error
    base = fixture_site.base_url
    assert urls == [f"{base}/prolog/late.html", f"{base}/prolog/later.html"]


@pytest.mark.parametrize(("name", "kept"), [("truncated.xml", 3), ("truncated.xml.gz", 112)])
def test_a_truncated_sitemap_keeps_its_complete_urls_with_a_warning(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite, name: str, kept: int
) -> None:
    """Regression: a sitemap cut short (or its gzip stream) was refused whole."""
    result, urls = _poll_fixture(fixture_site, redis_client, settings, f"/feeds/sitemaps/{name}")
    assert result.status == "warning" and result.new == kept == len(urls)
    assert "truncated" in result.error and f"{kept} complete <url>" in result.error
    state = redis_client.hgetall(keys.feed_state(fixture_site.url(f"/feeds/sitemaps/{name}")))
    assert state[b"status"] == b"warning" and state[b"error_streak"] == b"0"


_ARCHIVE_GZ = (SITEMAPS / "archive.xml.gz").read_bytes()


@pytest.mark.parametrize(
    ("content_type", "encoding"),
    [
        ("application/x-gzip", ""),
        ("application/gzip", ""),
        ("binary/octet-stream", ""),
        ("application/x-gzip", "gzip"),
    ],
)
def test_a_gzipped_sitemap_is_read_whatever_its_gzip_content_type(
    redis_client: redis.Redis,
    settings: Settings,
    fixture_site: LocalSite,
    content_type: str,
    encoding: str,
) -> None:
    """Regression: ``.xml.gz`` served as x-gzip, gzip or binary/octet-stream was refused."""
    body = gzip.compress(_ARCHIVE_GZ) if encoding else _ARCHIVE_GZ
    headers = (("Content-Encoding", encoding),) if encoding else ()
    fixture_site.routes["/archive.xml.gz"] = respond(200, body, content_type, headers)
    result, urls = _poll_fixture(fixture_site, redis_client, settings, "/archive.xml.gz")
    assert result.status == "ok", result.error
    assert len(urls) == 40 and urls[0] == "https://archive.example/2024/000.html"


def test_a_gzip_bomb_served_as_gzip_stays_within_the_inflated_cap(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite
) -> None:
    bomb = gzip.compress(b"<urlset>" + (b" " * 1024 * 1024 + b"<url/>") * 51 + b"</urlset>", 9)
    fixture_site.routes["/bomb.xml.gz"] = respond(200, bomb, "application/gzip")
    result, urls = _poll_fixture(fixture_site, redis_client, settings, "/bomb.xml.gz")
    assert result.status == "error" and "over 50 MB once inflated" in result.error
    assert urls == []


def test_poll_the_fixture_corpus(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite
) -> None:
    """Every document under tests/fixtures/feeds polled twice through the poller path (the
    second round: nothing changed). Prints the figures (``pytest -s``)."""
    root = FIXTURES / "feeds"
    paths = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    poller = dataclasses.replace(settings.poller, news_max_age_s=10 * 365 * 86400)
    wide = dataclasses.replace(settings, poller=poller)  # the news fixtures' dates stay in
    rounds = []
    for _ in range(2):
        sink: list[FeedEntry] = []
        start = time.perf_counter()
        results = {
            path: poll_in_process(
                FeedConfig(url=fixture_site.url(f"/feeds/{quote(path)}")),
                redis_client,
                wide,
                sink.extend,
            )
            for path in paths
        }
        rounds.append((results, len(sink), time.perf_counter() - start))
    print(f"\n{len(paths)} documents under tests/fixtures/feeds")
    for path, result in rounds[0][0].items():
        print(f"  {path:42} {result.status:9} entries={result.entries:3} new={result.new:3}")
        if result.error:
            print(f"      {result.error[:150]}")
    for n, (results, enqueued, took) in enumerate(rounds, 1):
        statuses = Counter(r.status for r in results.values())
        entries = sum(r.entries for r in results.values())
        print(f"round {n}: {dict(statuses)} entries={entries} enqueued={enqueued} {took:.2f} s")
    assert not any("internal error" in r.error for r in rounds[0][0].values())
    assert rounds[1][1] == 0  # nothing changed: nothing enqueued again


def test_sitemap_dates_go_through_the_shared_date_parser() -> None:
    """Dates as sitemaps write them besides W3C datetime: RFC 822, a lower-case ``z``."""
    body = (
        news_sitemap("https://n.example")
        .replace(b"2026-11-28T10:00:00Z", b"Sat, 28 Nov 2026 10:00:00 GMT")
        .replace(b"2026-11-28T09:00:00+01:00", b"2026-11-28t08:00:00z")
    )
    feed = parse_sitemap(body, "u", max_entries=10, news_max_age_s=2 * 86400, now=NOW).feed
    assert [(e.published_at, e.updated_at) for e in feed.entries][0] == (
        "2026-11-28T08:00:00+00:00",
        "2026-11-28T10:00:00+00:00",
    )


_SITEMAP_NS = b'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b"<urlset " + _SITEMAP_NS + b"><url>", "sitemap"),
        (b"<urlset><url><loc>x</loc></url></urlset>", "sitemap"),  # no namespace
        (b'<sitemapindex xmlns="http://www.google.com/schemas/sitemap/0.84">', "sitemapindex"),
        (b"<?xml version='1.0'?><!--" + b"x" * 200_000 + b"--><urlset>", "sitemap"),
        (b"<!--" + b"x" * 300_000 + b"--><urlset>", "unknown"),  # past the 256 KB read
        (gzip.compress(b"<!--" + b"x" * 200_000 + b"--><sitemapindex>"), "sitemapindex"),
        ('<?xml version="1.0" encoding="utf-16"?><urlset/>'.encode("utf-16"), "sitemap"),
        (b'<x:urlset xmlns:x="https://other.example/">', "unknown"),  # another namespace
        (b"<rss><channel><description><![CDATA[<urlset " + _SITEMAP_NS + b">]]>", "feed"),
        (b'\xef\xbb\xbf<feed xmlns="http://www.w3.org/2005/Atom">', "feed"),
        (b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">', "feed"),
        (b' {"version": "https://jsonfeed.org/version/1.1", "items": []}', "feed"),
        (b"<!DOCTYPE html><html><body><urlset>", "unknown"),
        (b"<html><body><p>unclosed<br></body></html>", "unknown"),  # not well-formed
        (b'<!DOCTYPE u [<!ENTITY x SYSTEM "file:///etc/passwd">]><urlset>&x;', "sitemap"),
        (b"", "unknown"),
        (b"plain text", "unknown"),
    ],
)
def test_document_kind_is_the_root_element(body: bytes, kind: str) -> None:
    assert document_kind(body) == kind
