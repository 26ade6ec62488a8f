"""Sitemap indexes: each child polled on its own validators, through the poller path."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler

import pytest
import redis

from pipeline import keys
from pipeline.errors import RedisUnavailable
from pipeline.local.site import LocalSite
from pipeline.models import FeedEntry
from pipeline.polling.poll import PollResult
from pipeline.settings import FeedConfig, Settings
from tests.factories import poll_in_process, respond

NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'


class Doc:
    """A document served with validators (an ETag from its bytes, or none), answering 304 to
    the current one's If-None-Match; records what each request was answered."""

    def __init__(self, body: bytes, *, etag: bool = True) -> None:
        self.body = body
        self.etag = etag
        self.answers: list[int] = []
        self.asked_with: list[str] = []

    def current_etag(self) -> str:
        return f'"{hashlib.sha256(self.body).hexdigest()[:12]}"' if self.etag else ""

    def __call__(self, request: BaseHTTPRequestHandler) -> None:
        asked = request.headers.get("If-None-Match") or ""
        self.asked_with.append(asked)
        etag = self.current_etag()
        status = 304 if etag and asked == etag else 200
        self.answers.append(status)
        headers = (("ETag", etag),) if etag else ()
        respond(status, b"" if status == 304 else self.body, "application/xml", headers)(request)


def urlset(base: str, paths: Sequence[str]) -> bytes:
    urls = "".join(f"<url><loc>{base}{p}</loc></url>" for p in paths)
    return f"<urlset {NS}>{urls}</urlset>".encode()


def index(base: str, children: Sequence[tuple[str, str]]) -> bytes:
    """A sitemap index listing (path, lastmod) children ("" lastmod: none given)."""
    items = "".join(
        f"<sitemap><loc>{base}{path}</loc>"
        + (f"<lastmod>{lastmod}</lastmod>" if lastmod else "")
        + "</sitemap>"
        for path, lastmod in children
    )
    return f"<sitemapindex {NS}>{items}</sitemapindex>".encode()


class Sink:
    """The enqueue callable: keeps the URLs of every entry, counts the calls."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.calls = 0

    def __call__(self, entries: Sequence[FeedEntry]) -> None:
        self.calls += 1
        self.urls += [e.url for e in entries]


def serve_index(
    site: LocalSite, *, index_etag: bool = True, child_etags: bool = True
) -> dict[str, Doc]:
    """An index at /index.xml with two children, /s1.xml (a, b) and /s2.xml (c)."""
    base = site.base_url
    docs = {
        "/s1.xml": Doc(urlset(base, ["/a", "/b"]), etag=child_etags),
        "/s2.xml": Doc(urlset(base, ["/c"]), etag=child_etags),
    }
    listed = [("/s1.xml", "2026-11-28T10:00:00Z"), ("/s2.xml", "2026-11-27")]
    docs["/index.xml"] = Doc(index(base, listed), etag=index_etag)
    site.routes.update(docs)
    return docs


def poll(site: LocalSite, client: redis.Redis, settings: Settings, sink: Sink) -> PollResult:
    return poll_in_process(FeedConfig(url=site.url("/index.xml")), client, settings, sink)


@pytest.mark.parametrize("index_etag", [True, False], ids=["index-304", "index-same-bytes"])
def test_an_unchanged_index_still_polls_its_children(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite, index_etag: bool
) -> None:
    """Regression: children were fetched only when the index itself had changed."""
    docs = serve_index(fixture_site, index_etag=index_etag)
    base, sink = fixture_site.base_url, Sink()
    assert poll(fixture_site, redis_client, settings, sink).new == 3
    docs["/s1.xml"].body = urlset(base, ["/a", "/b", "/new"])
    result = poll(fixture_site, redis_client, settings, sink)
    assert docs["/index.xml"].answers[-1] == (304 if index_etag else 200)
    assert result.status == "ok" and result.new == 1, result
    assert sink.urls == [f"{base}/a", f"{base}/b", f"{base}/c", f"{base}/new"]
    assert docs["/s2.xml"].answers == [200, 304]  # the unchanged child: a 304


@pytest.mark.parametrize("index_etag", [True, False])
def test_an_index_polled_by_an_older_version_reads_its_children_again(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite, index_etag: bool
) -> None:
    """A state written before documents had a ``kind`` (validators and content hash of the
    index, no children records): the next poll fetches the index in full and reads it."""
    docs = serve_index(fixture_site, index_etag=index_etag)
    base, sink = fixture_site.base_url, Sink()
    assert poll(fixture_site, redis_client, settings, sink).new == 3
    state_key = keys.feed_state(fixture_site.url("/index.xml"))
    redis_client.hdel(state_key, "kind")
    redis_client.delete(keys.sitemap_children(fixture_site.url("/index.xml")))
    docs["/s1.xml"].body = urlset(base, ["/a", "/b", "/new"])
    result = poll(fixture_site, redis_client, settings, sink)
    assert docs["/index.xml"].answers[-1] == 200 and docs["/index.xml"].asked_with[-1] == ""
    assert result.new == 1 and sink.urls[-1] == f"{base}/new"
    assert redis_client.hget(state_key, "kind") == b"sitemapindex"


def test_unchanged_children_cost_a_304_or_a_hash_compare_and_no_enqueue(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite
) -> None:
    docs = serve_index(fixture_site, index_etag=False, child_etags=False)
    docs["/s2.xml"].etag = True
    sink = Sink()
    assert poll(fixture_site, redis_client, settings, sink).status == "ok"
    results = [poll(fixture_site, redis_client, settings, sink) for _ in range(2)]
    assert [r.status for r in results] == ["not_modified"] * 2
    assert sink.calls == 1 and len(sink.urls) == 3
    assert docs["/s1.xml"].answers == [200] * 3  # no validators: the same bytes, hashed
    assert docs["/s2.xml"].answers == [200, 304, 304]


def test_a_childs_validators_are_saved_only_once_its_entries_were_enqueued(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite
) -> None:
    """The broker took the entries but the poller died before saving: nothing is lost, the
    child is asked again without its validators and its entries are enqueued again."""
    docs = serve_index(fixture_site)
    taken: list[str] = []

    def enqueue_then_die(entries: Sequence[FeedEntry]) -> None:
        taken.extend(e.url for e in entries)
        raise RedisUnavailable("broker unavailable: connection reset")

    feed = FeedConfig(url=fixture_site.url("/index.xml"))
    with pytest.raises(RedisUnavailable):
        poll_in_process(feed, redis_client, settings, enqueue_then_die)
    assert len(taken) == 3
    children = redis_client.hgetall(keys.sitemap_children(feed.url))
    assert all(not json.loads(value).get("etag") for value in children.values())
    sink = Sink()
    assert poll(fixture_site, redis_client, settings, sink).new == 3
    assert docs["/s1.xml"].asked_with == ["", ""]  # no validators saved the first time
    saved = redis_client.hgetall(keys.sitemap_children(feed.url))
    etag = docs["/s1.xml"].current_etag()
    assert json.loads(saved[fixture_site.url("/s1.xml").encode()])["etag"] == etag


def test_a_child_that_does_not_parse_keeps_no_validators(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite
) -> None:
    """A broken child's ETag is never sent back, so a 304 cannot hide that it is broken."""
    docs = serve_index(fixture_site)
    docs["/s1.xml"].body = b"<html><body>maintenance</body></html>"
    sink = Sink()
    statuses = [poll(fixture_site, redis_client, settings, sink).status for _ in range(2)]
    assert statuses == ["warning", "warning"]
    assert docs["/s1.xml"].asked_with == ["", ""] and docs["/s1.xml"].answers == [200, 200]
    docs["/s1.xml"].body = urlset(fixture_site.base_url, ["/a"])
    result = poll(fixture_site, redis_client, settings, sink)
    assert result.status == "ok" and result.new == 1


def test_children_per_round_are_capped_most_recently_modified_first(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite
) -> None:
    base = fixture_site.base_url
    lastmods = {
        "/old.xml": "2025-01-01",
        "/newest.xml": "2026-11-28T10:00:00+01:00",
        "/undated.xml": "",
        "/newer.xml": "2026-11-28T08:30:00Z",  # 08:30 UTC: before /newest (09:00 UTC)
    }
    for n, path in enumerate(lastmods):
        fixture_site.routes[path] = respond(200, urlset(base, [f"/{n}"]), "application/xml")
    fixture_site.routes["/index.xml"] = respond(
        200, index(base, list(lastmods.items())), "application/xml"
    )
    capped = dataclasses.replace(
        settings, poller=dataclasses.replace(settings.poller, max_child_sitemaps=2)
    )
    sink = Sink()
    result = poll(fixture_site, redis_client, capped, sink)
    assert result.status == "ok"
    assert [fixture_site.count(p) for p in lastmods] == [0, 1, 0, 1]
    assert sink.urls == [f"{base}/1", f"{base}/3"]


def test_an_index_that_moved_for_good_keeps_its_childrens_validators(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite
) -> None:
    docs = serve_index(fixture_site)
    fixture_site.routes["/old-index.xml"] = respond(
        301, headers=(("Location", fixture_site.url("/index.xml")),)
    )
    sink = Sink()
    old = FeedConfig(url=fixture_site.url("/old-index.xml"))
    assert poll_in_process(old, redis_client, settings, sink).new == 3
    docs["/s1.xml"].body = urlset(fixture_site.base_url, ["/a", "/b", "/new"])
    result = poll(fixture_site, redis_client, settings, sink)  # at its new URL: index 304
    assert docs["/index.xml"].answers == [200, 304]
    assert result.new == 1 and sink.urls[-1] == fixture_site.url("/new")
    assert docs["/s2.xml"].answers == [200, 304]


def test_entries_of_children_not_read_this_round_are_not_pruned(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite
) -> None:
    """The daily prune forgets entries that left the feed; an unchanged child's entries did
    not leave it: forgotten, they would be enqueued again when that child next changes."""
    docs = serve_index(fixture_site)
    base, sink, url = fixture_site.base_url, Sink(), fixture_site.url("/index.xml")
    assert poll(fixture_site, redis_client, settings, sink).new == 3
    seen = redis_client.hgetall(keys.feed_seen(url))  # /a, /b, /c: first seen long ago
    redis_client.hset(
        keys.feed_seen(url), mapping={k: v.split(b"|")[0] + b"|0" for k, v in seen.items()}
    )
    redis_client.hset(keys.feed_state(url), "pruned_at", "0")  # and not pruned for a day
    docs["/index.xml"].body += b"\n"  # the index changed: the path that prunes
    docs["/s1.xml"].body = urlset(base, ["/a", "/b", "/new"])
    assert poll(fixture_site, redis_client, settings, sink).new == 1  # /s2.xml: a 304
    docs["/s2.xml"].body = urlset(base, ["/c", "/d"])
    assert poll(fixture_site, redis_client, settings, sink).new == 1
    assert sink.urls == [f"{base}/{p}" for p in ("a", "b", "c", "new", "d")]
