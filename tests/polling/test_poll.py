"""Polling against a real Redis and the local sample site."""

from __future__ import annotations

import gzip
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler

import pytest
import redis

from pipeline import keys
from pipeline.errors import RedisUnavailable
from pipeline.local.site import LocalSite
from pipeline.models import FeedEntry
from pipeline.polling import poll as poll_module
from pipeline.polling.poll import PollResult, prune_seen
from pipeline.polling.registry import add_feed
from pipeline.polling.schedule import due_feeds
from pipeline.settings import FeedConfig, Settings
from tests.factories import poll_in_process, respond
from workers.poller import run_polls


def _poll(feed: FeedConfig, client: redis.Redis, settings: Settings, sink: list[FeedEntry]) -> str:
    return poll_in_process(feed, client, settings, sink.extend).status


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


def test_entry_is_not_marked_seen_when_the_broker_is_down(
    redis_client: redis.Redis, settings: Settings, sample_site: LocalSite
) -> None:
    feed = FeedConfig(url=sample_site.url("/feeds/science.json"))

    def broker_down(entries: Sequence[FeedEntry]) -> None:
        raise RedisUnavailable("broker unavailable: connection refused")

    with pytest.raises(RedisUnavailable):  # the pipeline's error, not the feed's
        poll_in_process(feed, redis_client, settings, broker_down)
    assert redis_client.hlen(keys.feed_seen(feed.url)) == 0
    sink: list[FeedEntry] = []
    _poll(feed, redis_client, settings, sink)
    assert len(sink) == 2


def test_an_unexpected_error_is_the_feeds_error_and_its_validators_are_not_kept(
    redis_client: redis.Redis,
    settings: Settings,
    fixture_site: LocalSite,
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = _rss([("1", fixture_site.url("/a"), ""), ("2", fixture_site.url("/b"), "")])
    fixture_site.routes["/e.xml"] = respond(200, body, headers=(("ETag", '"v1"'),))
    feed = FeedConfig(url=fixture_site.url("/e.xml"), interval_s=600)
    add_feed(redis_client, feed)

    def bug(entries: Sequence[FeedEntry]) -> None:
        raise ValueError("a bug in sending these entries")

    result = poll_in_process(feed, redis_client, settings, bug)
    assert result.status == "error"
    assert result.error == "internal error: ValueError: a bug in sending these entries"
    assert "Traceback" in caplog.text and "feed " + feed.url in caplog.text
    state = redis_client.hgetall(keys.feed_state(feed.url))
    assert state[b"status"] == b"error" and state[b"error_streak"] == b"1"
    assert b"etag" not in state  # else the next poll's 304 would lose the entries
    delay = float(state[b"next_poll"]) - time.time()
    assert 600 * 2 * 0.9 - 5 < delay <= 600 * 2 * 1.1  # backed off
    assert redis_client.zscore(keys.FEED_SCHEDULE, feed.url) == float(state[b"next_poll"])
    assert redis_client.hlen(keys.feed_seen(feed.url)) == 0
    sink: list[FeedEntry] = []
    assert _poll(feed, redis_client, settings, sink) == "ok" and len(sink) == 2


def test_failing_feed_backs_off_and_stays_scheduled(
    redis_client: redis.Redis, settings: Settings, sample_site: LocalSite
) -> None:
    feed = FeedConfig(url=sample_site.url("/feeds/missing.xml"), interval_s=60)
    add_feed(redis_client, feed)
    assert due_feeds(redis_client, time.time(), limit=10) == [feed]  # new: due now
    for _ in range(3):
        assert _poll(feed, redis_client, settings, []) == "error"
    state = redis_client.hgetall(keys.feed_state(feed.url))
    assert state[b"error_streak"] == b"3" and b"HTTP 404" in state[b"error"]
    delay = float(state[b"next_poll"]) - time.time()
    assert 60 * 8 * 0.9 - 5 < delay <= 60 * 8 * 1.1  # 60 s doubled three times, jittered
    assert redis_client.zscore(keys.FEED_SCHEDULE, feed.url) == float(state[b"next_poll"])
    assert due_feeds(redis_client, time.time() + delay + 1, limit=10) == [feed]
    assert due_feeds(redis_client, time.time(), limit=10) == []


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


def test_entry_dated_for_the_first_time_is_not_an_update_until_its_time_moves_on(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite
) -> None:
    """A feed that starts giving an updated time (or a date the parser now reads) does not
    re-enqueue every entry it already gave; a later time after that is an update."""

    def rss(updated: str) -> bytes:
        extra = f"<atom:updated>{updated}</atom:updated>" if updated else ""
        return (
            '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel><title>t</title>'
            f"<item><guid isPermaLink='false'>x</guid><link>{fixture_site.url('/s')}</link>"
            f"{extra}</item></channel></rss>"
        ).encode()

    feed = FeedConfig(url=fixture_site.url("/dated.xml"))
    sink: list[FeedEntry] = []
    for updated in ("", "2026-11-20T08:00:00Z", "2026-11-21T09:30:00Z"):
        fixture_site.routes["/dated.xml"] = respond(200, rss(updated), "application/rss+xml")
        _poll(feed, redis_client, settings, sink)
    assert [(e.update, e.updated_at) for e in sink] == [
        (False, None),
        (True, "2026-11-21T09:30:00+00:00"),
    ]


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


def _rss(items: list[tuple[str, str, str]], channel_extra: str = "") -> bytes:
    """RSS with (guid, link, pubDate ISO) items."""
    body = "".join(
        f"<item><guid isPermaLink='false'>{guid}</guid><link>{link}</link>"
        f"<title>{guid}</title><pubDate>{_rfc822(date)}</pubDate></item>"
        for guid, link, date in items
    )
    return (
        '<rss version="2.0" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/">'
        f"<channel><title>t</title>{channel_extra}{body}</channel></rss>"
    ).encode()


def _rfc822(iso: str) -> str:
    from email.utils import format_datetime

    return format_datetime(datetime.fromisoformat(iso)) if iso else ""


def _ago(seconds: float) -> str:
    return datetime.fromtimestamp(time.time() - seconds, UTC).isoformat()


def test_entries_are_keyed_by_guid_so_a_changed_link_is_not_a_new_entry(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite
) -> None:
    feed = FeedConfig(url=fixture_site.url("/g.xml"))
    sink: list[FeedEntry] = []
    a, b = fixture_site.url("/a"), fixture_site.url("/b")
    fixture_site.routes["/g.xml"] = respond(200, _rss([("id-1", a, ""), ("id-2", b, "")]))
    _poll(feed, redis_client, settings, sink)
    moved = [("id-1", a + "?ref=rss2", ""), ("id-2", b, ""), ("id-3", b + "?p=3", "")]
    fixture_site.routes["/g.xml"] = respond(200, _rss(moved))
    _poll(feed, redis_client, settings, sink)
    assert [e.url.rsplit("/", 1)[-1] for e in sink] == ["a", "b", "b?p=3"]


def test_shared_guids_fall_back_to_links_and_repeated_entries_count_once(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite
) -> None:
    feed = FeedConfig(url=fixture_site.url("/dup.xml"))
    a, b = fixture_site.url("/a"), fixture_site.url("/b")
    items = [("same", a, ""), ("same", b, ""), ("other", b, ""), ("other", b, "")]
    fixture_site.routes["/dup.xml"] = respond(200, _rss(items))
    sink: list[FeedEntry] = []
    assert _poll(feed, redis_client, settings, sink) == "ok"
    assert sorted(e.url.rsplit("/", 1)[-1] for e in sink) == ["a", "b"]
    assert int(redis_client.get(keys.ENQUEUED_COUNT) or 0) == 2  # a and b, once each


def test_unchanged_feed_is_answered_304_and_costs_no_parse(
    redis_client: redis.Redis,
    settings: Settings,
    fixture_site: LocalSite,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = _rss([("id-1", fixture_site.url("/a"), "")])
    answers: list[int] = []

    def conditional(request: BaseHTTPRequestHandler) -> None:
        status = 304 if request.headers.get("If-None-Match") == '"v1"' else 200
        answers.append(status)
        respond(status, b"" if status == 304 else body, headers=(("ETag", '"v1"'),))(request)

    parses: list[str] = []
    real_parse = poll_module.parse_feed
    monkeypatch.setattr(
        poll_module, "parse_feed", lambda *a, **k: parses.append("x") or real_parse(*a, **k)
    )
    fixture_site.routes["/c.xml"] = conditional
    feed = FeedConfig(url=fixture_site.url("/c.xml"))
    statuses = [_poll(feed, redis_client, settings, []) for _ in range(4)]
    assert statuses == ["ok"] + ["not_modified"] * 3
    assert answers == [200, 304, 304, 304] and len(parses) == 1


def test_feed_failing_ten_times_is_still_polled_and_recovers(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite
) -> None:
    feed = FeedConfig(url=fixture_site.url("/flaky.xml"))
    add_feed(redis_client, feed)
    fixture_site.routes["/flaky.xml"] = respond(500, b"down")
    delays = []
    for _ in range(10):
        assert _poll(feed, redis_client, settings, []) == "error"
        delays.append(
            float(redis_client.hget(keys.feed_state(feed.url), "next_poll")) - time.time()
        )
    max_s = settings.poller.max_interval_s
    print("\nbackoff after 1..10 errors (s):", [round(d) for d in delays])
    assert delays[0] < delays[2] < delays[4] and all(d <= max_s * 1.1 for d in delays)
    assert redis_client.zscore(keys.FEED_SCHEDULE, feed.url) is not None  # never given up
    fixture_site.routes["/flaky.xml"] = respond(200, _rss([("1", fixture_site.url("/a"), "")]))
    sink: list[FeedEntry] = []
    assert _poll(feed, redis_client, settings, sink) == "ok" and len(sink) == 1
    state = redis_client.hgetall(keys.feed_state(feed.url))
    assert state[b"error_streak"] == b"0"
    assert float(state[b"next_poll"]) - time.time() <= settings.poller.interval_s * 1.1


def _interval_after_poll(
    client: redis.Redis, settings: Settings, site: LocalSite, body: bytes, **headers: str
) -> float:
    site.routes["/adaptive.xml"] = respond(
        200, body, "application/rss+xml", headers=tuple(headers.items())
    )
    feed = FeedConfig(url=site.url("/adaptive.xml"))
    client.delete(keys.feed_state(feed.url), keys.feed_seen(feed.url))
    assert _poll(feed, client, settings, []) == "ok"
    return float(client.hget(keys.feed_state(feed.url), "interval_s"))


def test_interval_adapts_to_the_entry_rate_and_honours_server_hints(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite
) -> None:
    def items(gap_s: float) -> list[tuple[str, str, str]]:
        return [(f"{i}", fixture_site.url(f"/{i}"), _ago(gap_s * i + 60)) for i in range(20)]

    def interval(body: bytes, **headers: str) -> float:
        return _interval_after_poll(redis_client, settings, fixture_site, body, **headers)

    assert 1200 <= interval(_rss(items(1800))) <= 1900  # an entry every 30 min
    assert interval(_rss(items(60))) == settings.poller.min_interval_s
    slow = interval(_rss(items(3 * 86400)))
    assert slow == settings.poller.max_interval_s
    assert interval(_rss(items(600), "<ttl>120</ttl>")) == 7200
    hourly = "<sy:updatePeriod>hourly</sy:updatePeriod><sy:updateFrequency>1</sy:updateFrequency>"
    assert interval(_rss(items(600), hourly)) == 3600
    assert interval(_rss(items(600)), **{"Cache-Control": "max-age=2700"}) == 2700
    assert interval(_rss([("x", fixture_site.url("/x"), "")])) == settings.poller.interval_s


def test_interval_halves_when_every_entry_was_new(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite
) -> None:
    feed = FeedConfig(url=fixture_site.url("/burst.xml"))
    for batch in range(2):
        undated = [(f"{batch}-{i}", fixture_site.url(f"/{batch}/{i}"), "") for i in range(5)]
        fixture_site.routes["/burst.xml"] = respond(200, _rss(undated))
        _poll(feed, redis_client, settings, [])
    assert float(redis_client.hget(keys.feed_state(feed.url), "interval_s")) == 450


def test_prune_forgets_old_entries_that_left_the_feed(redis_client: redis.Redis) -> None:
    feed_url = "http://127.0.0.1:9/feed.xml"
    seen = keys.feed_seen(feed_url)
    now = time.time()
    redis_client.hset(
        seen,
        mapping={
            "current-old": f"-|{now - 90 * 86400:.0f}",
            "gone-old": f"-|{now - 90 * 86400:.0f}",
            "gone-recent": f"-|{now - 86400:.0f}",
            "legacy": "-",
        },
    )
    pruned = prune_seen(redis_client, feed_url, {"current-old"}, older_than=now - 30 * 86400)
    assert pruned == 2
    assert sorted(redis_client.hkeys(seen)) == [b"current-old", b"gone-recent"]


def test_without_backlog_only_entries_that_appear_later_are_enqueued(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite
) -> None:
    feed = FeedConfig(url=fixture_site.url("/news.xml"), backlog=False)
    old = [(f"old-{n}", fixture_site.url(f"/old-{n}"), "") for n in range(3)]
    fixture_site.routes["/news.xml"] = respond(200, _rss(old))
    sink: list[FeedEntry] = []
    assert _poll(feed, redis_client, settings, sink) == "ok" and sink == []
    fresh = [("new-1", fixture_site.url("/new-1"), ""), *old]
    fixture_site.routes["/news.xml"] = respond(200, _rss(fresh))
    _poll(feed, redis_client, settings, sink)
    assert [e.url.rsplit("/", 1)[-1] for e in sink] == ["new-1"]
    assert int(redis_client.get(keys.ENQUEUED_COUNT) or 0) == 1


# Hostile documents (issue #15): each used to raise out of poll_feed and end the poller.
_GOOD_ITEM = "<item><link>{base}/fine</link></item>"
_JSON_FEED = '{{"version": "https://jsonfeed.org/version/1.1", "items": [{items}]}}'


def _json_item(base: str, date: str) -> str:
    return (
        f'{{"id": "1", "url": "{base}/j", "date_published": "{date}", "date_modified": "{date}"}}'
    )


def _sitemap(base: str, date: str) -> str:
    return (
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
        f"<url><loc>{base}/s</loc><lastmod>{date}</lastmod><news:news>"
        f"<news:publication_date>{date}</news:publication_date></news:news></url></urlset>"
    )


HOSTILE = {
    "surrogate_reference": (
        '<rss version="2.0"><channel><title>t&#xD800;</title>'
        "<item><title>a&#xD800;b&#x110000;c&#99999999999999999999;</title>"
        "<link>{base}/fine</link></item></channel></rss>"
    ),
    "json_date_before_year_1": _JSON_FEED.format(
        items=_json_item("{base}", "0001-01-01T00:00:00+01:00")
    ),
    "json_date_after_year_9999": _JSON_FEED.format(
        items=_json_item("{base}", "9999-12-31T23:59:59-01:00")
    ),
    "sitemap_date_before_year_1": _sitemap("{base}", "0001-01-01T00:00:00+01:00"),
    "sitemap_date_after_year_9999": _sitemap("{base}", "9999-12-31T23:59:59-01:00"),
    "rss_unparseable_link": (
        '<rss version="2.0"><channel><title>t</title><item><link>http://[::1/a</link></item>'
        "<item><link>http://127.0.0.1:99999/port</link></item>" + _GOOD_ITEM + "</channel></rss>"
    ),
    "json_unparseable_link": _JSON_FEED.format(
        items='{"url": "http://[::1/a"}, {"url": "{base}/fine", "title": "x\\ud800"}'
    ),
    "sitemap_unparseable_link": (
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        "<url><loc>http://[::1/a</loc></url><url><loc>{base}/fine</loc></url></urlset>"
    ),
}
"""Documents that are the feed's problem but hold usable entries: polled ``ok``."""


def _poll_round(
    client: redis.Redis, settings: Settings, feeds: list[FeedConfig], sink: list[FeedEntry]
) -> dict[str, PollResult]:
    """One poll round of the feeds, one at a time, as the poller runs it."""

    def poll(feed: FeedConfig) -> PollResult:
        return poll_in_process(feed, client, settings, sink.extend)

    results = run_polls(feeds, poll, concurrency=1, per_host=1, keep_going=lambda: True)
    return {r.feed_url.rsplit("/", 1)[-1]: r for r in results}


def _round_with(site: LocalSite, name: str, body: bytes, content_type: str) -> list[FeedConfig]:
    """The feed ``name`` between two good feeds, all on ``site``."""
    site.routes[f"/{name}"] = respond(200, body, content_type)
    for good in ("before.xml", "after.xml"):
        site.routes[f"/{good}"] = respond(200, _rss([(good, site.url(f"/{good}/1"), "")]))
    return [FeedConfig(url=site.url(f"/{n}")) for n in ("before.xml", name, "after.xml")]


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_document_is_polled_and_the_round_goes_on(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite, name: str
) -> None:
    body = HOSTILE[name].replace("{base}", fixture_site.base_url).encode()
    content_type = "application/json" if body.startswith(b"{") else "application/xml"
    feeds = _round_with(fixture_site, name, body, content_type)
    sink: list[FeedEntry] = []
    results = _poll_round(redis_client, settings, feeds, sink)
    assert results["before.xml"].status == results["after.xml"].status == "ok"
    assert results[name].status == "ok", results[name].error
    assert results[name].new == 1
    mine = [e for e in sink if e.feed_url == feeds[1].url]
    assert len(mine) == 1 and "[" not in mine[0].url and "99999" not in mine[0].url
    for entry in mine:  # every text kept can be hashed and sent as UTF-8
        for text in (entry.url, entry.title, entry.summary, entry.guid):
            text.encode()
    state = redis_client.hgetall(keys.feed_state(feeds[1].url))
    assert state[b"status"] == b"ok" and float(state[b"next_poll"]) > time.time()


def test_a_surrogate_reference_becomes_a_replacement_character(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite
) -> None:
    body = HOSTILE["surrogate_reference"].replace("{base}", fixture_site.base_url).encode()
    fixture_site.routes["/s.xml"] = respond(200, body, "application/rss+xml")
    sink: list[FeedEntry] = []
    assert _poll(FeedConfig(url=fixture_site.url("/s.xml")), redis_client, settings, sink) == "ok"
    assert [e.title for e in sink] == ["a\ufffdb\ufffdc\ufffd"]


_SMALL_SITEMAP_GZ = gzip.compress(
    (
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        + "".join(f"<url><loc>http://x.test/{n * 7919}</loc></url>" for n in range(300))
        + "</urlset>"
    ).encode()
)


@pytest.mark.parametrize(
    "body",
    [
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"corrupt deflate data" * 20,
        _SMALL_SITEMAP_GZ[:-8] + b"\xff" * 8,  # its CRC-32 and length are wrong
    ],  # a truncated one keeps its complete <url> (tests/polling/test_sitemaps.py)
    ids=["corrupt", "bad-crc"],
)
def test_a_corrupt_gzip_body_is_the_feeds_error_with_backoff(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite, body: bytes
) -> None:
    feeds = _round_with(fixture_site, "broken.xml.gz", body, "application/octet-stream")
    results = _poll_round(redis_client, settings, feeds, [])
    assert results["before.xml"].status == results["after.xml"].status == "ok"
    broken = results["broken.xml.gz"]
    assert broken.status == "error" and "gzip" in broken.error, broken.error
    state = redis_client.hgetall(keys.feed_state(feeds[1].url))
    assert state[b"status"] == b"error" and state[b"error_streak"] == b"1"
    delay = float(state[b"next_poll"]) - time.time()
    assert delay > settings.poller.interval_s  # backed off
    assert redis_client.zscore(keys.FEED_SCHEDULE, feeds[1].url) == float(state[b"next_poll"])


def test_any_exception_while_polling_a_feed_is_that_feeds_error(
    redis_client: redis.Redis,
    settings: Settings,
    fixture_site: LocalSite,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The last resort: a bug nobody has found yet fails one feed, not the poller."""
    feeds = _round_with(fixture_site, "buggy.xml", _rss([("1", fixture_site.url("/x"), "")]), "")
    real_parse = poll_module.parse_feed

    def parse(body: bytes, feed_url: str, **kwargs: int) -> object:
        if feed_url.endswith("/buggy.xml"):
            raise KeyError("an unforeseen bug\nacross two lines")
        return real_parse(body, feed_url, **kwargs)

    monkeypatch.setattr(poll_module, "parse_feed", parse)
    sink: list[FeedEntry] = []
    results = _poll_round(redis_client, settings, feeds, sink)
    assert results["before.xml"].status == results["after.xml"].status == "ok"
    assert len(sink) == 2
    buggy = results["buggy.xml"]
    assert buggy.status == "error"
    assert buggy.error == "internal error: KeyError: 'an unforeseen bug\\nacross two lines'"
    assert "Traceback" in caplog.text and "KeyError" in caplog.text
    state = redis_client.hgetall(keys.feed_state(feeds[1].url))
    assert state[b"error"].decode() == buggy.error and state[b"error_streak"] == b"1"
    assert float(state[b"next_poll"]) - time.time() > settings.poller.interval_s
    assert due_feeds(redis_client, time.time(), limit=10) == []  # all rescheduled


def test_feed_that_stops_parsing_stays_unhealthy_while_its_server_answers_304(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite
) -> None:
    """Validators are kept only for a body that parsed: the broken body's ETag is never sent,
    so the server cannot answer 304 to it and the feed keeps failing (and backing off)."""
    good = _rss([("id-1", fixture_site.url("/a"), "")])
    bodies = {'"good"': good, '"broken"': b"<html><body>maintenance</body></html>"}
    current = ['"good"']

    def conditional(request: BaseHTTPRequestHandler) -> None:
        etag = current[0]
        if request.headers.get("If-None-Match") == etag:
            respond(304, headers=(("ETag", etag),))(request)
        else:
            respond(200, bodies[etag], "application/xml", headers=(("ETag", etag),))(request)

    fixture_site.routes["/s.xml"] = conditional
    feed = FeedConfig(url=fixture_site.url("/s.xml"))
    assert _poll(feed, redis_client, settings, []) == "ok"
    current[0] = '"broken"'
    statuses = [_poll(feed, redis_client, settings, []) for _ in range(3)]
    state = redis_client.hgetall(keys.feed_state(feed.url))
    assert statuses == ["error"] * 3
    assert state[b"error_streak"] == b"3" and state[b"etag"] == b'"good"'
    current[0] = '"good"'  # back to the body the validators belong to: 304 is healthy
    assert _poll(feed, redis_client, settings, []) == "not_modified"


def test_permanent_redirect_moves_the_registered_feed_with_its_state(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite
) -> None:
    new_url = fixture_site.url("/new/place/feed.xml")
    fixture_site.routes["/old/feed.xml"] = respond(301, headers=(("Location", new_url),))
    fixture_site.routes["/new/place/feed.xml"] = respond(
        200, _rss([("id-1", fixture_site.url("/a"), "")]), "application/rss+xml"
    )
    old = FeedConfig(url=fixture_site.url("/old/feed.xml"), name="Moving", headers={"X-A": "1"})
    add_feed(redis_client, old)
    sink: list[FeedEntry] = []
    assert _poll(old, redis_client, settings, sink) == "ok"
    registry = redis_client.hgetall(keys.FEED_REGISTRY)
    assert new_url.encode() in registry and old.url.encode() not in registry
    assert b'"X-A"' in registry[new_url.encode()] and b'"Moving"' in registry[new_url.encode()]
    assert redis_client.zscore(keys.FEED_SCHEDULE, old.url) is None
    assert redis_client.zscore(keys.FEED_SCHEDULE, new_url) is not None
    state = redis_client.hgetall(keys.feed_state(new_url))
    assert state[b"moved_from"] == old.url.encode() and state[b"items_seen"] == b"1"
    assert redis_client.exists(keys.feed_seen(new_url))  # the seen-set moved with it
    assert not redis_client.exists(keys.feed_seen(old.url))
    assert [e.feed_url for e in sink] == [old.url]
    moved = FeedConfig(url=new_url, name="Moving")
    assert _poll(moved, redis_client, settings, sink) == "not_modified" and len(sink) == 1


def test_temporary_redirect_leaves_the_registered_feed_where_it_is(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite
) -> None:
    target = fixture_site.url("/elsewhere.xml")
    fixture_site.routes["/tmp.xml"] = respond(302, headers=(("Location", target),))
    fixture_site.routes["/elsewhere.xml"] = respond(
        200, _rss([("id-1", fixture_site.url("/a"), "")]), "application/rss+xml"
    )
    feed = FeedConfig(url=fixture_site.url("/tmp.xml"))
    add_feed(redis_client, feed)
    assert _poll(feed, redis_client, settings, []) == "ok"
    assert redis_client.hexists(keys.FEED_REGISTRY, feed.url)
    assert not redis_client.hexists(keys.FEED_REGISTRY, target)


def test_items_seen_counts_an_article_once_when_its_guid_changes(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite
) -> None:
    feed = FeedConfig(url=fixture_site.url("/guids.xml"))
    link = fixture_site.url("/story")
    for guid in ("first-guid", "second-guid"):
        fixture_site.routes["/guids.xml"] = respond(
            200, _rss([(guid, link, "")]), "application/rss+xml"
        )
        _poll(feed, redis_client, settings, [])
    state = redis_client.hgetall(keys.feed_state(feed.url))
    assert state[b"items_seen"] == b"1"


def test_gzipped_rss_feed_is_read(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite
) -> None:
    body = gzip.compress(_rss([("id-1", fixture_site.url("/a"), "")]))
    fixture_site.routes["/feed.xml.gz"] = respond(200, body, "application/x-gzip")
    feed = FeedConfig(url=fixture_site.url("/feed.xml.gz"))
    sink: list[FeedEntry] = []
    assert _poll(feed, redis_client, settings, sink) == "ok"
    assert [e.url for e in sink] == [fixture_site.url("/a")]


def test_items_seen_counts_an_article_in_every_feed_that_gives_it(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite
) -> None:
    body = _rss([("shared-guid", fixture_site.url("/shared-story"), "")])
    fixture_site.routes["/one.xml"] = respond(200, body, "application/rss+xml")
    fixture_site.routes["/two.xml"] = respond(200, body, "application/rss+xml")
    for path in ("/one.xml", "/two.xml"):
        feed = FeedConfig(url=fixture_site.url(path))
        _poll(feed, redis_client, settings, [])
        assert redis_client.hget(keys.feed_state(feed.url), "items_seen") == b"1"
    assert int(redis_client.get(keys.ENQUEUED_COUNT) or 0) == 1  # one URL, counted once


def test_the_seen_set_of_a_busy_feed_stays_bounded(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite
) -> None:
    """Entries that left the document are forgotten beyond twice the document's own size
    (the workers' outcome keys absorb one that comes back), not only after seen_ttl_s:
    a feed publishing all day kept every entry of the last 30 days (issue #21)."""
    feed = FeedConfig(url=fixture_site.url("/busy.xml"))
    for poll in range(12):
        items = [(f"e{j}", fixture_site.url(f"/e{j}"), "") for j in range(poll * 5, poll * 5 + 5)]
        fixture_site.routes["/busy.xml"] = respond(200, _rss(items), "application/rss+xml")
        _poll(feed, redis_client, settings, [])
    fields = redis_client.hlen(keys.feed_seen(feed.url))
    assert fields <= 3 * 10, f"{fields} seen fields for a document of 5 entries (10 fields)"
    assert redis_client.hexists(keys.feed_seen(feed.url), entry_key_of("e59"))


def entry_key_of(guid: str) -> str:
    return "g" + keys.digest(guid)[:31]
