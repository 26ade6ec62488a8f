"""Feed registry, autodiscovery and OPML, against a real Redis and the local sample site."""

from __future__ import annotations

import gzip
import json
import subprocess
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import redis

from pipeline.local.redis_server import RedisServer
from pipeline.local.site import LocalSite
from pipeline.polling.discovery import discover_feeds, parse_opml, render_opml
from pipeline.settings import FeedConfig
from pipeline.streams.tail import outcome_counts
from tests.commands import (
    FIXTURES,
    ROOT,
    newsflow,
    poll_once,
    wait_for,
    worker_env,
    write_feeds,
)
from tests.factories import article_page, respond, rss

HOMEPAGE = """<html><head>
<link rel="alternate" type="application/rss+xml" href="/feeds/world.xml">
<link rel="alternate stylesheet" type="text/css" href="/style.css">
<link href='https://other.example/atom' type='application/atom+xml' rel='alternate'>
<link rel=alternate type="application/feed+json" href="feed.json">
</head><body></body></html>"""


def test_discover_feeds_reads_alternate_links() -> None:
    assert discover_feeds(HOMEPAGE, "https://news.example/section/") == [
        "https://news.example/feeds/world.xml",
        "https://other.example/atom",
        "https://news.example/section/feed.json",
    ]


def test_opml_round_trip() -> None:
    feeds = [
        FeedConfig(url="https://a.example/rss", name="A & B"),
        FeedConfig(url="https://b.example/atom.xml"),
    ]
    back = parse_opml(render_opml(feeds).encode())
    assert [(f.url, f.name) for f in back] == [
        ("https://a.example/rss", "A & B"),
        ("https://b.example/atom.xml", "https://b.example/atom.xml"),
    ]


def cli(redis_server: RedisServer, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = worker_env(redis_server.url, config)
    return subprocess.run(
        newsflow(*args), env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_feeds_add_from_a_homepage_list_remove_and_opml(
    redis_server: RedisServer, redis_client: redis.Redis, sample_site: LocalSite, tmp_path: Path
) -> None:
    write_feeds(tmp_path, [])
    added = cli(redis_server, tmp_path, "feeds", "add", sample_site.url("/"))
    assert added.returncode == 0, added.stderr
    urls = {
        sample_site.url(p) for p in ("/feeds/world.xml", "/feeds/tech.atom", "/feeds/science.json")
    }
    assert {line.split()[-1] for line in added.stdout.splitlines()} == urls

    cli(redis_server, tmp_path, "poller", "--once")
    listed = [
        json.loads(line)
        for line in cli(redis_server, tmp_path, "feeds", "list", "--json").stdout.splitlines()
    ]
    assert {row["url"] for row in listed} == urls
    world = next(row for row in listed if row["url"].endswith("world.xml"))
    assert world["status"] == "ok" and world["items_seen"] == 4 and world["error_streak"] == 0
    assert world["next_poll"] > world["last_poll"] and 300 <= world["interval_s"] <= 6 * 3600
    table = cli(redis_server, tmp_path, "feeds", "list").stdout
    for column in ("status", "items seen", "errors", "interval", "last poll", "next poll"):
        assert column in table
    assert "world.xml" in table or "World" in table

    opml = tmp_path / "feeds.opml"
    cli(redis_server, tmp_path, "feeds", "export-opml", str(opml))
    assert (
        cli(
            redis_server, tmp_path, "feeds", "remove", sample_site.url("/feeds/tech.atom")
        ).returncode
        == 0
    )
    imported = cli(redis_server, tmp_path, "feeds", "import-opml", str(opml))
    assert "3 feeds in" in imported.stdout and "1 new" in imported.stdout
    missing = cli(
        redis_server, tmp_path, "feeds", "add", sample_site.url("/articles/tram-line.html")
    )
    assert missing.returncode == 1 and "no feed found" in missing.stderr


def test_feed_added_with_headers_has_its_articles_fetched_with_them(
    redis_server: RedisServer,
    redis_client: redis.Redis,
    fixture_site: LocalSite,
    start_worker: Any,
    tmp_path: Path,
) -> None:
    """Regression: workers took feed options from config/feeds.toml, not the registry."""
    tokens: list[str | None] = []
    page = respond(200, article_page(fixture_site, 1, "/story"))

    def story(request: BaseHTTPRequestHandler) -> None:
        tokens.append(request.headers.get("X-Feed-Token"))
        page(request)

    fixture_site.routes.update({"/feed.xml": rss(fixture_site, ["/story"]), "/story": story})
    write_feeds(tmp_path, [])  # the feed is only in the registry
    added = cli(
        redis_server, tmp_path, "feeds", "add", fixture_site.url("/feed.xml"),
        "--header", "X-Feed-Token: s3cret",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    env = worker_env(redis_server.url, tmp_path)
    start_worker(env)
    poll_once(env)
    wait_for(lambda: bool(outcome_counts(redis_client)), 60, "the story's outcome")
    assert outcome_counts(redis_client) == {"published": 1}
    assert tokens == ["s3cret"]


def test_feeds_add_refuses_a_malformed_header(
    redis_server: RedisServer, fixture_site: LocalSite, tmp_path: Path
) -> None:
    write_feeds(tmp_path, [])
    added = cli(redis_server, tmp_path, "feeds", "add", fixture_site.url("/x"), "--header", "X")
    assert added.returncode == 2
    assert "--header must be 'Name: value'" in added.stderr


def _listed(redis_server: RedisServer, config: Path) -> dict[str, dict[str, Any]]:
    listed = cli(redis_server, config, "feeds", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    return {row["url"]: row for row in map(json.loads, listed.stdout.splitlines())}


def test_feeds_add_takes_every_kind_of_sitemap(
    redis_server: RedisServer,
    redis_client: redis.Redis,  # a clean database
    fixture_site: LocalSite,
    tmp_path: Path,
) -> None:
    """Regression: `feeds add` refused plain, index, Google News and gzipped sitemaps."""
    news = (FIXTURES / "feeds" / "sitemaps" / "news.xml").read_bytes()
    fixture_site.routes["/news.xml.gz"] = respond(200, gzip.compress(news), "application/x-gzip")
    paths = [
        "/feeds/sitemaps/plain.xml",
        "/feeds/sitemaps/index.xml",
        "/feeds/sitemaps/news.xml",
        "/feeds/sitemaps/archive.xml.gz",  # application/octet-stream
        "/news.xml.gz",  # application/x-gzip
    ]
    write_feeds(tmp_path, [])
    for path in paths:
        added = cli(redis_server, tmp_path, "feeds", "add", fixture_site.url(path))
        assert added.returncode == 0, added.stderr
        assert added.stdout.splitlines() == [f"added {fixture_site.url(path)}"]
    listed = _listed(redis_server, tmp_path)
    assert set(listed) == {fixture_site.url(path) for path in paths}
    assert {row["status"] for row in listed.values()} == {"never polled"}


def test_feeds_add_of_a_site_root_takes_the_sitemaps_its_robots_txt_declares(
    redis_server: RedisServer,
    redis_client: redis.Redis,  # a clean database
    fixture_site: LocalSite,
    tmp_path: Path,
) -> None:
    base = fixture_site.base_url
    fixture_site.routes["/"] = respond(200, b"<html><head></head><body>Home</body></html>")
    robots = f"User-agent: *\nSitemap: {base}/feeds/sitemaps/index.xml\nSitemap: {base}/gone.xml\n"
    fixture_site.routes["/robots.txt"] = respond(200, robots.encode(), "text/plain")
    write_feeds(tmp_path, [])
    added = cli(redis_server, tmp_path, "feeds", "add", fixture_site.url("/"))
    assert added.returncode == 0, added.stderr
    assert added.stdout.splitlines() == [f"added {base}/feeds/sitemaps/index.xml"]
    assert set(_listed(redis_server, tmp_path)) == {f"{base}/feeds/sitemaps/index.xml"}
