"""pipeline.polling.feeds: bytes in, entries with absolute http(s) links out (P-1..P-5)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from pipeline.errors import FeedError
from pipeline.local.site import LocalSite, sample_site_dir
from pipeline.polling.feeds import MAX_URL_LENGTH, ParsedFeed, http_url, parse_feed

FEEDS = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"
BASE = "http://example.test"
FEED_URL = f"{BASE}/feeds/feed.xml"


def sample_feed(name: str) -> bytes:
    """A sample-site feed with its {{BASE}} placeholder filled in."""
    return (sample_site_dir() / "feeds" / name).read_bytes().replace(b"{{BASE}}", BASE.encode())


def fixture(name: str) -> bytes:
    return (FEEDS / name).read_bytes()


def rss(items: str, *, title: str = "Test feed") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{title}</title><link>{BASE}/</link>{items}</channel></rss>"
    ).encode()


def urls(parsed: ParsedFeed) -> list[str]:
    return [entry.url for entry in parsed.entries]


def all_text(parsed: ParsedFeed) -> str:
    """Every string the parser produced, to search for leaked or expanded content."""
    fields = [parsed.title, parsed.warning]
    for e in parsed.entries:
        fields += [e.url, e.title, e.summary, e.published_at or "", *e.authors]
    return "\n".join(fields)


# --- the sample site's feeds --------------------------------------------------------------


def test_rss_sample_feed() -> None:
    parsed = parse_feed(sample_feed("world.xml"), f"{BASE}/feeds/world.xml")

    assert parsed.title == "The Sample Gazette – World"
    assert parsed.warning == ""
    assert parsed.skipped == 0
    assert urls(parsed) == [
        f"{BASE}/articles/library-hours.html",
        f"{BASE}/articles/coral-survey.html?utm_source=rss&utm_medium=feed",
        f"{BASE}/articles/tram-line.html",
        f"{BASE}/syndicated/tram-line-copy.html",
    ]
    first, second = parsed.entries[0], parsed.entries[1]
    assert first.title == "Central library to stay open until 10 p.m. on weekdays"
    assert first.authors == ("Margaret Ellison",)
    assert first.published_at == "2026-11-23T07:45:00+00:00"
    assert first.summary.startswith("From January the central library")
    assert first.feed_url == f"{BASE}/feeds/world.xml"
    assert second.authors == ("Priya Natarajan and Tomás Ibáñez",)
    assert second.published_at == "2026-11-22T10:15:00+00:00"


def test_atom_sample_feed() -> None:
    parsed = parse_feed(sample_feed("tech.atom"), f"{BASE}/feeds/tech.atom")

    assert parsed.title == "The Sample Gazette – Technology, Business and Sport"
    assert (parsed.skipped, parsed.warning) == (0, "")
    assert urls(parsed) == [
        f"{BASE}/articles/release-2-0.html",
        f"{BASE}/articles/rates-hold.html",
        f"{BASE}/articles/new-coach.html",
        f"{BASE}/articles/library-hours.html",
    ]
    assert [e.authors for e in parsed.entries] == [
        ("Lena Fischer", "John Roe"),
        ("Jane Doe", "Rahul Mehta"),
        ("Daniel Okafor", "Sophie Lind"),
        ("Margaret Ellison",),
    ]
    assert parsed.entries[2].title == "Harbour City FC appoint Elena Márquez as head coach"
    assert parsed.entries[0].published_at == "2026-11-26T09:00:00+00:00"
    assert parsed.entries[3].published_at == "2026-11-23T07:45:00+00:00"


def test_json_sample_feed() -> None:
    parsed = parse_feed(sample_feed("science.json"), f"{BASE}/feeds/science.json")

    assert parsed.title == "The Sample Gazette – Science and Technology"
    assert (parsed.skipped, parsed.warning) == (0, "")
    assert urls(parsed) == [
        f"{BASE}/articles/release-2-0.html",
        f"{BASE}/articles/coral-survey.html",
    ]
    release, coral = parsed.entries
    assert release.title == "Open-source mapping tool Waymark reaches version 2.0"
    assert release.authors == ("Lena Fischer", "John Roe")
    assert release.published_at == "2026-11-26T09:00:00+00:00"
    assert coral.authors == ("Priya Natarajan", "Tomás Ibáñez")
    assert coral.summary.startswith("A three-year survey of 112 reef sites")


def test_max_entries_caps_and_counts_the_rest_as_skipped() -> None:
    parsed = parse_feed(sample_feed("world.xml"), f"{BASE}/feeds/world.xml", max_entries=2)

    assert urls(parsed) == [
        f"{BASE}/articles/library-hours.html",
        f"{BASE}/articles/coral-survey.html?utm_source=rss&utm_medium=feed",
    ]
    assert parsed.skipped == 2


# --- refusing what is not a feed ----------------------------------------------------------


@pytest.mark.parametrize("body", ["<rss/>", "/etc/passwd", "http://127.0.0.1/feed.xml"])
def test_str_is_refused(body: str) -> None:
    with pytest.raises(TypeError):
        parse_feed(body, FEED_URL)  # type: ignore[arg-type]


@pytest.mark.parametrize("body", [b"", b"   \r\n\t  "])
def test_empty_body_is_a_feed_error(body: bytes) -> None:
    with pytest.raises(FeedError) as caught:
        parse_feed(body, FEED_URL)
    assert caught.value.url == FEED_URL


@pytest.mark.parametrize(
    "body",
    [
        fixture("not-a-feed.html"),
        (sample_site_dir() / "articles" / "tram-line.html").read_bytes(),
        (sample_site_dir() / "index.html").read_bytes(),
        b"just some plain text, no markup at all",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01",
        b"[1, 2, 3]",
    ],
    ids=["fixture-html", "article-html", "index-html", "plain-text", "png", "json-array"],
)
def test_non_feed_documents_are_feed_errors(body: bytes) -> None:
    with pytest.raises(FeedError):
        parse_feed(body, FEED_URL)


def test_body_that_is_a_local_path_is_not_opened(tmp_path: Path) -> None:
    """feedparser opens a local file when handed its name, even as bytes (P-2)."""
    secret = tmp_path / "secret-feed.xml"
    secret.write_bytes(rss(f"<item><title>SECRET</title><link>{BASE}/secret</link></item>"))

    with pytest.raises(FeedError) as caught:
        parse_feed(str(secret).encode(), FEED_URL)
    assert "SECRET" not in str(caught.value)


def test_body_that_names_a_device_returns_promptly() -> None:
    started = time.monotonic()
    with pytest.raises(FeedError):
        parse_feed(b"/dev/zero", FEED_URL)
    assert time.monotonic() - started < 1.0


# --- links ---------------------------------------------------------------------------------


def test_relative_links_become_absolute_against_the_feed_url() -> None:
    parsed = parse_feed(fixture("relative_links.xml"), f"{BASE}/feeds/sub/relative.xml")

    assert urls(parsed) == [
        f"{BASE}/feeds/articles/up.html",
        f"{BASE}/articles/root.html",
        f"{BASE}/feeds/sub/sibling.html",
        "http://cdn.example.test/articles/proto.html",
        "https://other.example.test/articles/abs.html",
    ]
    assert parsed.skipped == 0


def test_unsafe_schemes_and_missing_links_are_skipped_and_counted() -> None:
    parsed = parse_feed(fixture("bad_links.xml"), FEED_URL)

    assert urls(parsed) == [f"{BASE}/articles/good.html"]
    # javascript x2, file, data, mailto, ftp, no link, non-permalink guid
    assert parsed.skipped == 8
    assert all(e.url.startswith(("http://", "https://")) for e in parsed.entries)


def test_unsafe_relative_base_does_not_make_links_usable() -> None:
    """A relative link joined to a non-http feed URL is still refused."""
    parsed = parse_feed(rss("<item><link>/articles/a.html</link></item>"), "file:///etc/feed.xml")
    assert (parsed.entries, parsed.skipped) == ((), 1)


def test_url_length_limit() -> None:
    prefix = f"{BASE}/articles/"
    at_limit = prefix + "a" * (MAX_URL_LENGTH - len(prefix))
    over_limit = prefix + "b" * (MAX_URL_LENGTH - len(prefix) + 1)
    huge = prefix + "c" * 8192
    items = "".join(
        f"<item><title>t</title><link>{u}</link></item>" for u in (at_limit, over_limit, huge)
    )

    parsed = parse_feed(rss(items), FEED_URL)

    assert urls(parsed) == [at_limit]
    assert parsed.skipped == 2


def test_json_feed_relative_and_external_urls_resolve_against_the_feed() -> None:
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Relative JSON",
        "items": [
            {"id": "1", "url": "../articles/one.html"},
            {"id": "2", "external_url": "/articles/two.html"},
            {"id": "3", "url": "file:///etc/passwd"},
            {"id": "4", "url": "data:text/html,<script>alert(1)</script>"},
            {"id": "5", "title": "no link"},
        ],
    }
    parsed = parse_feed(json.dumps(doc).encode(), f"{BASE}/feeds/sub/feed.json")

    assert urls(parsed) == [f"{BASE}/feeds/articles/one.html", f"{BASE}/articles/two.html"]
    assert parsed.skipped == 3


# --- malformed and hostile XML -------------------------------------------------------------


def test_malformed_xml_still_yields_entries_with_a_warning() -> None:
    parsed = parse_feed(fixture("malformed.xml"), FEED_URL)

    assert parsed.warning.startswith("malformed feed:")
    assert parsed.title == "Broken Gazette"
    assert urls(parsed) == [
        f"{BASE}/articles/first.html",
        f"{BASE}/articles/second.html",
        f"{BASE}/articles/third.html",
    ]
    assert parsed.entries[0].title == "First story survives broken markup"


def test_undeclared_html_entities_are_tolerated() -> None:
    parsed = parse_feed(fixture("undeclared_entity.xml"), FEED_URL)

    assert urls(parsed) == [f"{BASE}/articles/cafe.html"]
    assert "Café" in parsed.entries[0].title


def test_control_characters_do_not_stop_parsing() -> None:
    parsed = parse_feed(fixture("control_chars.xml"), FEED_URL)
    assert urls(parsed) == [f"{BASE}/articles/control.html"]


def test_cp1252_labelled_utf8_yields_entries_without_crashing() -> None:
    parsed = parse_feed(fixture("cp1252_labelled_utf8.xml"), FEED_URL)

    assert urls(parsed) == [f"{BASE}/articles/mislabelled.html"]
    assert parsed.warning  # the encoding lie is reported, not hidden


def test_billion_laughs_is_not_expanded() -> None:
    started = time.monotonic()
    parsed = parse_feed(fixture("billion_laughs.xml"), FEED_URL)
    elapsed = time.monotonic() - started

    assert elapsed < 1.0
    assert "lollollol" not in all_text(parsed)
    assert len(all_text(parsed)) < 10_000


def test_billion_laughs_in_utf16_is_not_expanded() -> None:
    body = fixture("billion_laughs.xml").decode().replace('encoding="utf-8"', 'encoding="utf-16"')
    started = time.monotonic()
    try:
        parsed = parse_feed(body.encode("utf-16"), FEED_URL)
    except FeedError:
        parsed = ParsedFeed(title="", entries=(), skipped=0)
    assert time.monotonic() - started < 1.0
    assert "lollollol" not in all_text(parsed)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_xxe_file_entity_is_not_resolved(encoding: str) -> None:
    text = fixture("xxe.xml").decode().replace('encoding="utf-8"', f'encoding="{encoding}"')
    started = time.monotonic()
    try:
        parsed = parse_feed(text.encode(encoding), FEED_URL)
    except FeedError as exc:
        assert "root:" not in str(exc)
        return
    finally:
        assert time.monotonic() - started < 1.0
    assert "root:" not in all_text(parsed)
    assert "/bin/" not in all_text(parsed)


@pytest.fixture
def internal_site(fixture_site: LocalSite) -> Iterator[LocalSite]:
    """The fixture site playing an internal service that would serve DTDs."""
    dtd = b'<!ENTITY remote "FETCHED-REMOTE-DTD">'

    def serve_dtd(request: BaseHTTPRequestHandler) -> None:
        request.send_response(200)
        request.send_header("Content-Type", "application/xml-dtd")
        request.send_header("Content-Length", str(len(dtd)))
        request.end_headers()
        request.wfile.write(dtd)

    fixture_site.routes["/internal/x.dtd"] = serve_dtd
    fixture_site.routes["/internal/param.dtd"] = serve_dtd
    yield fixture_site


@pytest.mark.parametrize("name", ["external_dtd.xml", "parameter_entities.xml"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_external_dtds_and_parameter_entities_are_never_fetched(
    internal_site: LocalSite, name: str, encoding: str
) -> None:
    text = fixture(name).decode().replace("{{BASE}}", internal_site.base_url)
    text = text.replace('encoding="utf-8"', f'encoding="{encoding}"')
    started = time.monotonic()
    try:
        parsed = parse_feed(text.encode(encoding), FEED_URL)
        leaked = all_text(parsed)
    except FeedError as exc:
        leaked = str(exc)
    assert time.monotonic() - started < 1.0
    assert internal_site.requests == []
    assert "FETCHED-REMOTE-DTD" not in leaked
    assert "root:" not in leaked


# --- size ---------------------------------------------------------------------------------


def test_ten_thousand_items_are_capped() -> None:
    items = "".join(
        f"<item><title>Story {i}</title><link>{BASE}/articles/{i}.html</link></item>"
        for i in range(10_000)
    )
    started = time.monotonic()
    parsed = parse_feed(rss(items), FEED_URL, max_entries=500)
    elapsed = time.monotonic() - started

    assert len(parsed.entries) == 500
    assert parsed.skipped == 9_500
    assert parsed.entries[0].url == f"{BASE}/articles/0.html"
    assert parsed.entries[-1].url == f"{BASE}/articles/499.html"
    assert elapsed < 10.0


def test_ten_thousand_json_items_are_capped() -> None:
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "items": [{"id": str(i), "url": f"{BASE}/a/{i}"} for i in range(10_000)],
    }
    parsed = parse_feed(json.dumps(doc).encode(), FEED_URL, max_entries=100)
    assert len(parsed.entries) == 100
    assert parsed.skipped == 9_900


# --- encodings and formats ----------------------------------------------------------------


def test_utf16_feed() -> None:
    body = fixture("utf16.xml")
    assert body[:2] in (b"\xff\xfe", b"\xfe\xff")

    parsed = parse_feed(body, FEED_URL)

    assert parsed.title == "Zürich Zeitung"
    (entry,) = parsed.entries
    assert entry.title == "Straßenbahn in Zürich fährt wieder"
    assert entry.url in (
        f"{BASE}/articles/zürich-tram.html",
        f"{BASE}/articles/z%C3%BCrich-tram.html",
    )
    assert entry.authors == ("Jürg Müller",)
    assert entry.published_at == "2026-11-17T05:00:00+00:00"


def test_utf16_without_bom_does_not_crash() -> None:
    body = fixture("utf16.xml").decode("utf-16").encode("utf-16-le")
    try:
        parsed = parse_feed(body, FEED_URL)
    except FeedError:
        return
    assert all(e.url.startswith(BASE) for e in parsed.entries)


def test_rss_1_0_rdf_feed() -> None:
    parsed = parse_feed(fixture("rss10.rdf"), f"{BASE}/feeds/rss10.rdf")

    assert parsed.title == "RDF Gazette"
    assert urls(parsed) == [f"{BASE}/articles/rdf-one.html", f"{BASE}/articles/rdf-two.html"]
    assert [e.title for e in parsed.entries] == ["RDF story one", "RDF story two"]
    assert [e.authors for e in parsed.entries] == [("Ada Lovelace",), ("Charles Babbage",)]
    assert [e.published_at for e in parsed.entries] == [
        "2026-11-20T09:30:00+00:00",
        "2026-11-19T16:00:00+00:00",
    ]


def test_atom_0_3_feed() -> None:
    parsed = parse_feed(fixture("atom03.xml"), f"{BASE}/feeds/atom03.xml")

    assert parsed.title == "Atom 0.3 Gazette"
    (entry,) = parsed.entries
    assert entry.url == f"{BASE}/articles/atom03.html"
    assert entry.title == "Old-style Atom entry"
    assert entry.authors == ("Grace Hopper",)
    assert entry.published_at == "2026-11-18T10:00:00+00:00"
    assert entry.summary == "Atom 0.3 is still out there."


def test_atom_entry_with_only_updated_uses_it_as_the_date() -> None:
    body = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title>'
        b'<entry><title>Only updated</title><link href="/a.html"/>'
        b"<updated>2026-11-16T12:30:00+02:00</updated></entry></feed>"
    )
    (entry,) = parse_feed(body, FEED_URL).entries
    assert entry.url == f"{BASE}/a.html"
    assert entry.published_at == "2026-11-16T10:30:00+00:00"


def test_rss_author_email_form_and_missing_date() -> None:
    parsed = parse_feed(
        rss(
            "<item><title>t</title><link>http://example.test/a</link>"
            "<author>desk@example.test (Night Desk)</author>"
            "<pubDate>not a date</pubDate></item>"
        ),
        FEED_URL,
    )
    (entry,) = parsed.entries
    assert entry.authors == ("Night Desk",)
    assert entry.published_at is None


# --- JSON Feed ----------------------------------------------------------------------------


def test_invalid_json_is_a_feed_error() -> None:
    with pytest.raises(FeedError, match="invalid JSON"):
        parse_feed(fixture("json_invalid.json"), FEED_URL)


@pytest.mark.parametrize(
    "body",
    [
        fixture("json_not_a_feed.json"),
        b'{"version": "1.1"}',
        b'{"version": "1.1", "items": {"a": 1}}',
        b'{"title": "an API answer", "data": [{"url": "http://example.test/a"}]}',
        b"{}",
    ],
)
def test_json_that_is_not_a_json_feed_is_a_feed_error(body: bytes) -> None:
    """No ``items`` list and no jsonfeed.org version: not a feed (#17 point 9)."""
    with pytest.raises(FeedError, match="not a JSON Feed"):
        parse_feed(body, FEED_URL)


@pytest.mark.parametrize(
    "version",
    ['"https://jsonfeed.org/version/1"', '"1.1"', '"1"', "1", '"https://example.test/x"', None],
)
def test_json_feed_is_read_whatever_its_version_says(version: str | None) -> None:
    """An object with an ``items`` list is read, as gofeed and Miniflux read it (#17 point 9)."""
    stated = f'"version": {version}, ' if version is not None else ""
    body = f'{{{stated}"items": [{{"id": "1", "url": "/articles/a.html"}}]}}'.encode()
    assert urls(parse_feed(body, FEED_URL)) == [f"{BASE}/articles/a.html"]


def test_deeply_nested_json_is_a_feed_error() -> None:
    with pytest.raises(FeedError):
        parse_feed(b"{" + b'"a":[' * 100_000 + b"1" + b"]" * 100_000 + b"}", FEED_URL)


def test_json_feed_with_odd_shapes_keeps_the_good_items() -> None:
    parsed = parse_feed(fixture("json_odd_shapes.json"), f"{BASE}/feeds/odd.json")

    assert urls(parsed) == [
        f"{BASE}/articles/good.html",
        f"{BASE}/articles/external.html",
        f"{BASE}/articles/authors-int.html",
        f"{BASE}/articles/authors-str.html",
        f"{BASE}/articles/bad-date.html",
    ]
    # number URL, object URL, javascript URL, a string item, a null item
    assert parsed.skipped == 5
    good = parsed.entries[0]
    assert good.authors == ("Solo Writer",)
    assert good.published_at == "2026-11-17T07:00:00+00:00"
    assert parsed.entries[2].authors == ()
    assert parsed.entries[3].authors == ()
    assert parsed.entries[4].published_at is None


def test_json_feed_items_not_a_list() -> None:
    body = b'{"version": "https://jsonfeed.org/version/1.1", "title": "T", "items": {"a": 1}}'
    parsed = parse_feed(body, FEED_URL)
    assert (parsed.title, parsed.entries, parsed.skipped) == ("T", (), 0)


def test_json_feed_with_utf8_bom() -> None:
    parsed = parse_feed(b"\xef\xbb\xbf" + sample_feed("science.json"), FEED_URL)
    assert len(parsed.entries) == 2


def test_entry_links_are_published_as_uris() -> None:
    """An IRI link (space, quote, non-ASCII path or host) becomes the URI it stands for, so
    the fetcher can request it and the published url is a valid URI; %XX stays as it is."""
    body = b"""<rss version="2.0"><channel><title>t</title>
    <item><link>https://news.example/a b"c/\xc3\xa9t\xc3\xa9?q=1%20x</link></item>
    <item><link>https://b\xc3\xbccher.example/x</link></item></channel></rss>"""
    urls = [e.url for e in parse_feed(body, "https://news.example/feed").entries]
    assert urls == [
        "https://news.example/a%20b%22c/%C3%A9t%C3%A9?q=1%20x",
        "https://xn--bcher-kva.example/x",
    ]


# --- #17: peers' feed documents -----------------------------------------------------------

PEERS = FEEDS / "peers"


def peer(name: str) -> bytes:
    """A fixture of tests/fixtures/feeds/peers with {{BASE}} filled in."""
    return (PEERS / name).read_bytes().replace(b"{{BASE}}", BASE.encode())


def test_a_guid_that_is_no_url_never_becomes_a_link() -> None:
    """#17 point 3: only an absolute http(s) permalink guid stands in for a missing link."""
    parsed = parse_feed(peer("guid_not_a_url.xml"), f"{BASE}/feeds/main.xml")

    assert urls(parsed) == [
        f"{BASE}/stories/permalink.html",
        f"{BASE}/stories/explicit.html",
        f"{BASE}/stories/linked.html",
    ]
    assert parsed.skipped == 3  # 12345, stories/relative.html, isPermaLink="false"
    assert parsed.entries[2].guid == "777"  # the guid kept as written, for the seen-set


def test_an_atom_id_that_is_no_url_never_becomes_a_link() -> None:
    parsed = parse_feed(peer("atom_id_not_a_url.atom"), f"{BASE}/feeds/ids.atom")

    assert urls(parsed) == [f"{BASE}/stories/atom-id.html", f"{BASE}/stories/atom-linked.html"]
    assert parsed.skipped == 2  # "Correct Value", a tag: URI
    assert parsed.entries[1].guid == "Another Value"


def test_guids_are_kept_as_written_whatever_the_base() -> None:
    """The guid is the seen-set key: moving the feed must not change it."""
    body = rss(f"<item><link>{BASE}/a.html</link><guid>12345</guid></item>")
    first = parse_feed(body, FEED_URL)
    moved = parse_feed(body, FEED_URL, base_url="https://elsewhere.test/x/feed.xml")
    assert first.entries[0].guid == moved.entries[0].guid == "12345"


def test_relative_links_resolve_against_the_base_url_not_the_feed_url() -> None:
    """#17 point 4: ``base_url`` is where the document was fetched from after redirects."""
    parsed = parse_feed(
        peer("moved_relative_links.xml"),
        f"{BASE}/old/feed.xml",
        base_url=f"{BASE}/new/place/feed.xml",
    )

    assert urls(parsed) == [
        f"{BASE}/new/place/story.html",
        f"{BASE}/root-story.html",
        f"{BASE}/elsewhere/based.html",  # xml:base still wins
    ]
    assert {e.feed_url for e in parsed.entries} == {f"{BASE}/old/feed.xml"}


def test_a_relative_xml_base_resolves_against_the_base_url() -> None:
    body = (
        b'<feed xmlns="http://www.w3.org/2005/Atom" xml:base="/blog/"><title>t</title>'
        b'<entry><title>a</title><link href="a.html"/></entry>'
        b'<entry xml:base="https://cdn.example.test/x/"><title>b</title><link href="b.html"/>'
        b"</entry></feed>"
    )
    parsed = parse_feed(body, FEED_URL, base_url="https://moved.example.test/feeds/f.atom")
    assert urls(parsed) == [
        "https://moved.example.test/blog/a.html",
        "https://cdn.example.test/x/b.html",
    ]


def test_json_feed_links_resolve_against_the_base_url() -> None:
    body = b'{"version": "1.1", "items": [{"id": "1", "url": "story.html"}]}'
    parsed = parse_feed(body, FEED_URL, base_url=f"{BASE}/new/feed.json")
    assert urls(parsed) == [f"{BASE}/new/story.html"]


def test_content_location_is_the_base_resolved_against_the_base_url() -> None:
    """#17 point 12: a relative Content-Location resolves against the URL after redirects."""
    parsed = parse_feed(
        peer("content_location.xml"),
        FEED_URL,
        headers={"content-location": "../archive/feed.xml"},
        base_url=f"{BASE}/cl/served/feed.xml",
    )
    assert urls(parsed) == [f"{BASE}/cl/archive/located.html"]


@pytest.mark.parametrize("location", ["javascript:alert(1)", "ftp://example.test/f.xml", "  "])
def test_an_unusable_content_location_is_ignored(location: str) -> None:
    parsed = parse_feed(
        peer("content_location.xml"),
        FEED_URL,
        headers={"content-location": location},
        base_url=f"{BASE}/cl/served/feed.xml",
    )
    assert urls(parsed) == [f"{BASE}/cl/served/located.html"]


def test_rss_dates_in_zone_names_odd_layouts_and_created() -> None:
    """#17 point 10, through feedparser: our parser reads its raw strings."""
    parsed = parse_feed(peer("dates.xml"), FEED_URL)
    assert [e.published_at for e in parsed.entries] == [
        "2016-06-29T22:07:41+00:00",  # America/Los_Angeles is PDT in June, not UTC
        "2016-06-29T15:07:41+00:00",  # 2016/6/29, not the 1st of this month
        "2016-06-29T08:07:41+00:00",  # GMT+7
        "2016-06-29T13:07:41+00:00",  # dcterms:created when nothing better is given
    ]


def test_atom_0_3_created_is_used_when_nothing_better_is_given() -> None:
    (entry,) = parse_feed(peer("dates_atom03.xml"), FEED_URL).entries
    assert (entry.published_at, entry.updated_at) == ("2016-06-29T19:07:41+00:00", None)


def test_published_beats_created_which_beats_updated() -> None:
    def atom03(dates: str) -> str | None:
        body = (
            '<feed version="0.3" xmlns="http://purl.org/atom/ns#"><title>t</title><entry>'
            f'<link rel="alternate" type="text/html" href="{BASE}/a"/>{dates}</entry></feed>'
        ).encode()
        return parse_feed(body, FEED_URL).entries[0].published_at

    issued = "<issued>2026-01-01T00:00:00Z</issued>"
    created = "<created>2026-01-02T00:00:00Z</created>"
    modified = "<modified>2026-01-03T00:00:00Z</modified>"
    assert atom03(issued + created + modified) == "2026-01-01T00:00:00+00:00"
    assert atom03(created + modified) == "2026-01-02T00:00:00+00:00"
    assert atom03(modified) == "2026-01-03T00:00:00+00:00"


def test_feedparser_reads_dates_ours_cannot_but_not_ones_starting_with_digits() -> None:
    """Its Greek reader helps; its ISO 8601 reader fills a month it cannot read from today."""
    parsed = parse_feed(
        rss(
            f"<item><link>{BASE}/greek</link>"
            "<pubDate>Κυρ, 11 Ιούλ 2004 12:00:00 EST</pubDate></item>"
            f"<item><link>{BASE}/hungarian</link>"
            "<pubDate>2004-július-13T9:15-05:00</pubDate></item>"
            f"<item><link>{BASE}/year</link><pubDate>2004</pubDate></item>"
        ),
        FEED_URL,
    )
    assert [e.published_at for e in parsed.entries] == ["2004-07-11T17:00:00+00:00", None, None]


def test_times_are_kept_in_whole_seconds() -> None:
    body = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><entry><link href="/a"/>'
        b"<updated>2026-11-16T12:30:00.987654+02:00</updated></entry></feed>"
    )
    (entry,) = parse_feed(body, FEED_URL).entries
    assert (entry.published_at, entry.updated_at) == ("2026-11-16T10:30:00+00:00",) * 2


def test_json_feed_dates_lower_case_z_and_rfc_822() -> None:
    """#17 point 10: JSON Feed dates go through the same parser."""
    parsed = parse_feed(peer("dates.json"), FEED_URL)
    assert [(e.published_at, e.updated_at) for e in parsed.entries] == [
        ("2016-06-29T15:07:41+00:00", None),
        ("2016-06-29T13:07:41+00:00", "2016-06-30T09:00:00+00:00"),
    ]


CYRILLIC_PATH = "/%D0%BD%D0%BE%D0%B2%D0%BE%D1%81%D1%82%D0%B8/%D1%81%D0%BD%D0%B5%D0%B3.html"


@pytest.mark.parametrize(
    "content_type",
    [
        "application/rss+xml; charset=windows-1251",
        "text/xml; charset=CP1251",
        "text/html;charset=cp1251",
    ],
)
def test_a_charset_given_only_in_the_content_type_is_used(content_type: str) -> None:
    """#17 point 11: no XML declaration encoding, the HTTP charset is the document's."""
    parsed = parse_feed(peer("windows1251.xml"), FEED_URL, headers={"content-type": content_type})

    assert (parsed.title, parsed.warning) == ("Новости Москвы", "")
    (entry,) = parsed.entries
    assert (entry.title, entry.url) == ("Снег в апреле", BASE + CYRILLIC_PATH)


def test_shift_jis_given_only_in_the_content_type() -> None:
    parsed = parse_feed(
        peer("shift_jis.xml"), FEED_URL, headers={"content-type": "text/xml; charset=Shift_JIS"}
    )
    assert (parsed.title, parsed.warning) == ("東京ニュース", "")
    assert [(e.title, e.url) for e in parsed.entries] == [
        ("桜が満開", f"{BASE}/%E3%83%8B%E3%83%A5%E3%83%BC%E3%82%B9/%E6%A1%9C.html")
    ]


def test_the_documents_own_declaration_beats_the_http_charset() -> None:
    """A server default (ISO-8859-1) must not garble a document that says what it is."""
    text = peer("windows1251.xml").decode("cp1251")
    declared = text.replace(
        '<?xml version="1.0"?>', '<?xml version="1.0" encoding="windows-1251"?>'
    )
    parsed = parse_feed(
        declared.encode("cp1251"),
        FEED_URL,
        headers={"content-type": "text/xml; charset=ISO-8859-1"},
    )
    assert parsed.title == "Новости Москвы"


def test_a_utf8_body_stays_utf8_whatever_the_http_charset_says() -> None:
    body = rss(f"<item><title>Zürich</title><link>{BASE}/z</link></item>").replace(
        b' encoding="utf-8"', b""
    )
    parsed = parse_feed(body, FEED_URL, headers={"content-type": "text/xml; charset=iso-8859-1"})
    assert (parsed.entries[0].title, parsed.warning) == ("Zürich", "")


@pytest.mark.parametrize("content_type", ["text/xml", "text/html", "application/octet-stream"])
def test_content_types_without_a_charset_change_nothing(content_type: str) -> None:
    """feedparser never sees the real Content-Type: RFC 3023 would make text/xml US-ASCII."""
    body = rss(f"<item><title>Zürich</title><link>{BASE}/z</link></item>")
    parsed = parse_feed(body, FEED_URL, headers={"content-type": content_type})
    assert (parsed.entries[0].title, parsed.warning) == ("Zürich", "")


@pytest.mark.parametrize("charset", ["no-such-charset", "rot13", "base64"])
def test_a_charset_python_cannot_decode_text_with_is_harmless(charset: str) -> None:
    headers = {"content-type": f"application/rss+xml; charset={charset}"}
    parsed = parse_feed(peer("windows1251.xml"), FEED_URL, headers=headers)
    assert len(parsed.entries) == 1  # read as before: windows-1252 guessed, garbled


def test_json_feed_honours_a_declared_charset_when_the_body_is_not_utf8() -> None:
    headers = {"content-type": "application/json; charset=windows-1251"}
    parsed = parse_feed(peer("windows1251.json"), FEED_URL, headers=headers)
    assert [(e.title, e.url) for e in parsed.entries] == [
        ("Снег в апреле", f"{BASE}/%D0%BD%D0%BE%D0%B2%D0%BE%D1%81%D1%82%D0%B8/json.html")
    ]


def test_json_feed_in_utf8_ignores_a_wrong_charset() -> None:
    headers = {"content-type": "application/json; charset=windows-1251"}
    parsed = parse_feed(sample_feed("science.json"), FEED_URL, headers=headers)
    assert parsed.entries[1].authors == ("Priya Natarajan", "Tomás Ibáñez")


def test_json_feed_not_utf8_without_a_charset_is_a_feed_error() -> None:
    with pytest.raises(FeedError, match="invalid JSON"):
        parse_feed(peer("windows1251.json"), FEED_URL)


def test_link_quirks_of_real_feeds() -> None:
    """#17 point 12: at:// uri with an http text, empty <link/>, feedburner, one slash."""
    parsed = parse_feed(peer("link_quirks.xml"), FEED_URL)

    assert urls(parsed) == [
        f"{BASE}/quirks/bsky.html",
        f"{BASE}/quirks/guid-permalink.html",
        f"{BASE}/quirks/original.html",
    ]
    assert parsed.skipped == 2  # the non-permalink guid; http:/example.test/... refused


def test_an_unusable_orig_link_falls_back_to_the_link() -> None:
    body = rss(
        f"<item><link>{BASE}/via-feedburner</link>"
        '<feedburner:origLink xmlns:feedburner="http://rssnamespace.org/feedburner/ext/1.0">'
        "javascript:alert(1)</feedburner:origLink></item>"
    )
    assert urls(parse_feed(body, FEED_URL)) == [f"{BASE}/via-feedburner"]


@pytest.mark.parametrize(
    ("link", "base", "expected"),
    [
        ("https:/example.org/x", "https://host.test/feed.xml", None),  # one slash: no host
        ("http:/example.org/x", "http://host.test/feed.xml", None),
        ("https:example.org/x", "https://host.test/feed.xml", None),  # no slash at all
        ("//cdn.example.test/x", "https://host.test/feed.xml", "https://cdn.example.test/x"),
        ("HTTPS://Example.test/x", "http://host.test/", "https://example.test/x"),
        ("x.html", "https://host.test/a/feed.xml", "https://host.test/a/x.html"),
        ("x.html", "", None),
    ],
)
def test_http_url_resolves_only_links_without_a_scheme(
    link: str, base: str, expected: str | None
) -> None:
    """RFC 3986 strict: a link with a scheme is never joined to the base (as in Go's net/url,
    which gofeed and Miniflux use), so ``https:/x`` is not ``https://<base host>/x``."""
    assert http_url(link, base) == expected


def test_an_at_uri_on_an_atom_link_with_nothing_else_skips_the_entry() -> None:
    body = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
        b'<entry><title>a</title><link href="at://did:plc:x/post/1"/></entry>'
        b'<entry><title>b</title><link href="/b.html"/></entry></feed>'
    )
    parsed = parse_feed(body, FEED_URL)
    assert (urls(parsed), parsed.skipped) == ([f"{BASE}/b.html"], 1)


def test_link_repairs_in_utf16() -> None:
    body = peer("link_quirks.xml").decode().replace('encoding="utf-8"', 'encoding="utf-16"')
    parsed = parse_feed(body.encode("utf-16"), FEED_URL)
    assert urls(parsed)[:2] == [f"{BASE}/quirks/bsky.html", f"{BASE}/quirks/guid-permalink.html"]


# --- WebSub hubs and self ------------------------------------------------------------------


def test_rss_hubs_and_self() -> None:
    parsed = parse_feed(peer("websub.xml"), FEED_URL)
    assert parsed.hubs == (f"{BASE}/hub/one", "https://hub.example.test/")  # not javascript:
    assert parsed.self_url == f"{BASE}/feeds/websub.xml"


def test_atom_hubs_and_self_resolve_against_the_base() -> None:
    body = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
        b'<link rel="hub" href="/hub"/><link rel="hub" href="/hub"/>'
        b'<link rel="hub" href="https://pubsubhubbub.example.test/"/>'
        b'<link rel="self" href="feed.atom"/><link rel="alternate" href="/"/>'
        b'<entry><link href="/a"/></entry></feed>'
    )
    parsed = parse_feed(body, FEED_URL, base_url=f"{BASE}/moved/feed.atom")
    assert parsed.hubs == (f"{BASE}/hub", "https://pubsubhubbub.example.test/")
    assert parsed.self_url == f"{BASE}/moved/feed.atom"


def test_json_feed_hubs_and_feed_url() -> None:
    parsed = parse_feed(peer("websub.json"), FEED_URL)
    # WebSub hubs only (not rssCloud), http(s) only, objects with a url only
    assert parsed.hubs == (f"{BASE}/hub/one", "https://hub.example.test/untyped")
    assert parsed.self_url == f"{BASE}/feeds/websub.json"


def test_a_feed_without_hubs() -> None:
    assert (parse_feed(rss(""), FEED_URL).hubs, parse_feed(rss(""), FEED_URL).self_url) == ((), "")
    sample = parse_feed(sample_feed("world.xml"), FEED_URL)
    assert (sample.hubs, sample.self_url) == ((), f"{BASE}/feeds/world.xml")
