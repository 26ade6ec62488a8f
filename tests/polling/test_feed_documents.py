"""Feed documents as other projects' test suites write them, through the real poller (#17).

Each document in tests/fixtures/feeds/peers/ is written for these tests (shapes described in
issue #17, no peer's file copied). It is served by the fixture site with the headers a server
would send, polled once with ``poll_in_process``, and the test looks at what was enqueued.
"""

from __future__ import annotations

from pathlib import Path

import redis

from pipeline.local.site import LocalSite
from pipeline.models import FeedEntry
from pipeline.polling.poll import PollResult
from pipeline.settings import FeedConfig, Settings
from tests.factories import poll_in_process, respond

PEERS = Path(__file__).resolve().parents[1] / "fixtures" / "feeds" / "peers"
RSS = "application/rss+xml"


def document(site: LocalSite, name: str) -> bytes:
    """A peers fixture with its {{BASE}} placeholder filled in with the site's address."""
    return (PEERS / name).read_bytes().replace(b"{{BASE}}", site.base_url.encode())


def serve(
    site: LocalSite,
    path: str,
    name: str,
    content_type: str = RSS,
    headers: tuple[tuple[str, str], ...] = (),
) -> str:
    """Serve the fixture ``name`` at ``path``; returns its URL."""
    site.routes[path] = respond(200, document(site, name), content_type, headers)
    return site.url(path)


def redirect(site: LocalSite, path: str, to: str, status: int = 301) -> str:
    site.routes[path] = respond(status, b"", headers=(("Location", to),))
    return site.url(path)


def poll(url: str, client: redis.Redis, settings: Settings) -> tuple[PollResult, list[FeedEntry]]:
    sink: list[FeedEntry] = []
    result = poll_in_process(FeedConfig(url=url), client, settings, sink.extend)
    return result, sink


def urls(site: LocalSite, entries: list[FeedEntry]) -> list[str]:
    """The enqueued URLs, relative to the site when they are on it."""
    return [e.url.removeprefix(site.base_url) for e in entries]


def test_3_a_guid_or_id_that_is_no_url_never_becomes_an_article_url(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite
) -> None:
    rss_url = serve(fixture_site, "/feeds/main.xml", "guid_not_a_url.xml")
    atom_url = serve(
        fixture_site, "/feeds/ids.atom", "atom_id_not_a_url.atom", "application/atom+xml"
    )

    rss, rss_entries = poll(rss_url, redis_client, settings)
    atom, atom_entries = poll(atom_url, redis_client, settings)

    assert urls(fixture_site, rss_entries) == [
        "/stories/permalink.html",
        "/stories/explicit.html",
        "/stories/linked.html",
    ]
    assert (rss.status, rss.skipped) == ("ok", 3)  # 12345, a relative guid, isPermaLink=false
    assert urls(fixture_site, atom_entries) == [
        "/stories/atom-id.html",
        "/stories/atom-linked.html",
    ]
    assert (atom.status, atom.skipped) == ("ok", 2)  # "Correct Value", a tag: id


def test_4_relative_links_resolve_against_the_url_after_redirects(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite
) -> None:
    moved = serve(fixture_site, "/new/place/feed.xml", "moved_relative_links.xml")
    old = redirect(fixture_site, "/old/feed.xml", moved)

    result, entries = poll(old, redis_client, settings)

    assert result.status == "ok"
    assert urls(fixture_site, entries) == [
        "/new/place/story.html",
        "/root-story.html",
        "/elsewhere/based.html",  # xml:base wins over the document's address
    ]
    assert {e.feed_url for e in entries} == {old}  # entries stay the registered feed's


def test_9_json_feeds_with_a_short_or_no_version_are_read(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite
) -> None:
    short = serve(
        fixture_site, "/json/short.json", "jsonfeed_short_version.json", "application/feed+json"
    )
    bare = serve(fixture_site, "/json/bare.json", "jsonfeed_no_version.json", "application/json")

    (short_result, short_entries), (bare_result, bare_entries) = (
        poll(short, redis_client, settings),
        poll(bare, redis_client, settings),
    )

    assert (short_result.status, urls(fixture_site, short_entries)) == (
        "ok",
        ["/json/short-version.html"],
    )
    assert (bare_result.status, urls(fixture_site, bare_entries)) == (
        "ok",
        ["/json/no-version.html"],
    )


def test_10_dates_in_zone_names_odd_layouts_and_created_only(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite
) -> None:
    rss = serve(fixture_site, "/dates/feed.xml", "dates.xml")
    atom03 = serve(fixture_site, "/dates/atom03.xml", "dates_atom03.xml", "application/atom+xml")
    json_feed = serve(fixture_site, "/dates/feed.json", "dates.json", "application/feed+json")

    dated: dict[str, str | None] = {}
    for url in (rss, atom03, json_feed):
        _, entries = poll(url, redis_client, settings)
        dated |= {e.url.rsplit("/", 1)[-1]: e.published_at for e in entries}

    assert dated == {
        "zone-name.html": "2016-06-29T22:07:41+00:00",  # PDT, not UTC
        "slashes.html": "2016-06-29T15:07:41+00:00",  # not 2016-12-01
        "gmt-plus.html": "2016-06-29T08:07:41+00:00",  # GMT+7 is seven hours ahead of UTC
        "created.html": "2016-06-29T13:07:41+00:00",  # dcterms:created, nothing better
        "atom03-created.html": "2016-06-29T19:07:41+00:00",  # Atom 0.3 <created>
        "lower-z.html": "2016-06-29T15:07:41+00:00",  # JSON Feed, lower-case z
        "rfc822.html": "2016-06-29T13:07:41+00:00",  # JSON Feed, RFC 822
    }


def test_11_a_charset_given_only_in_the_content_type_is_used(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite
) -> None:
    cyrillic = serve(
        fixture_site, "/cp1251.xml", "windows1251.xml", "application/rss+xml; charset=windows-1251"
    )
    japanese = serve(fixture_site, "/sjis.xml", "shift_jis.xml", "text/xml; charset=Shift_JIS")
    json_feed = serve(
        fixture_site, "/cp1251.json", "windows1251.json", "application/json; charset=windows-1251"
    )

    read = [poll(url, redis_client, settings) for url in (cyrillic, japanese, json_feed)]

    assert [result.status for result, _ in read] == ["ok", "ok", "ok"]
    assert [(e.title, e.url.removeprefix(fixture_site.base_url)) for _, es in read for e in es] == [
        (
            "Снег в апреле",
            "/%D0%BD%D0%BE%D0%B2%D0%BE%D1%81%D1%82%D0%B8/%D1%81%D0%BD%D0%B5%D0%B3.html",
        ),
        ("桜が満開", "/%E3%83%8B%E3%83%A5%E3%83%BC%E3%82%B9/%E6%A1%9C.html"),
        ("Снег в апреле", "/%D0%BD%D0%BE%D0%B2%D0%BE%D1%81%D1%82%D0%B8/json.html"),
    ]


def test_12_link_quirks_at_uris_empty_links_feedburner_and_one_slash(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite
) -> None:
    quirks = serve(fixture_site, "/quirks/feed.xml", "link_quirks.xml")

    result, entries = poll(quirks, redis_client, settings)

    assert urls(fixture_site, entries) == [
        "/quirks/bsky.html",  # the element's text, not its at:// uri
        "/quirks/guid-permalink.html",  # an empty <link/> does not hide the guid
        "/quirks/original.html",  # feedburner:origLink, not the redirector
    ]
    # refused: a guid that is not a permalink, and http:/example.test/... (one slash)
    assert (result.status, result.skipped) == ("ok", 2)


def test_12_content_location_is_the_base_resolved_against_the_final_url(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite
) -> None:
    served = serve(
        fixture_site,
        "/cl/served/feed.xml",
        "content_location.xml",
        headers=(("Content-Location", "../archive/feed.xml"),),
    )
    start = redirect(fixture_site, "/cl/start.xml", served, status=302)

    result, entries = poll(start, redis_client, settings)

    assert (result.status, urls(fixture_site, entries)) == ("ok", ["/cl/archive/located.html"])
