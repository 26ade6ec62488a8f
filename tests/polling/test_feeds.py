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
from pipeline.polling.feeds import MAX_URL_LENGTH, ParsedFeed, parse_feed

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
        b'{"version": 1, "items": []}',
        b'{"version": "https://example.test/not-jsonfeed", "items": []}',
        b"{}",
    ],
)
def test_json_that_is_not_a_json_feed_is_a_feed_error(body: bytes) -> None:
    with pytest.raises(FeedError, match="not a JSON Feed"):
        parse_feed(body, FEED_URL)


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
