"""Hostile input (issue #15): what a published Article may hold.

Control and bidi characters never reach a field, every field is capped, every URL is an ASCII
URI, image URLs are http(s) only. Every article here also validates against the whole
pipeline/schemas/article-v1.json (tests/article/schema_check.py).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pipeline.article.assemble import cap_blocks, parse_article
from pipeline.article.extract import Block, build_extractor, extract_document
from pipeline.article.normalize import clean_line, shorten, strip_unsafe
from pipeline.article.sanitize import (
    MAX_AUTHOR,
    MAX_AUTHORS,
    MAX_CAPTION,
    MAX_DESCRIPTION,
    MAX_SECTION,
    MAX_SITE_NAME,
    MAX_TAG,
    MAX_TAGS,
    MAX_TITLE,
    MAX_URL,
    as_uri,
    image_url,
)
from pipeline.article.standalone import article_dict
from pipeline.dedupe import canonical_url, url_id
from pipeline.errors import FetchRefused
from pipeline.models import Article, FeedEntry, Page
from pipeline.publish import encode_article
from pipeline.settings import ExtractSettings
from tests.article.schema_check import SCHEMA, body_errors
from tests.article.test_extract import golden_cases, golden_view
from tests.factories import story_text

OPTIONS = build_extractor(ExtractSettings())
URL = "https://news.example/2026/story"
PARAGRAPHS = story_text(7)
BODY = "".join(f"<p>{p}</p>" for p in PARAGRAPHS)
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
"""What no published string may hold (tab and newline: text and body only)."""
HOSTILE = "\x1b[2J\x1b]0;owned\x07\x00\x9b31m\u202e\u2066\ud800\x7f\U000e0041"
"""Clear screen, set the window title, BEL, NUL, C1 CSI, RLO, LRI, a lone surrogate, DEL,
a tag character."""
IN_HTML = HOSTILE.replace("\x00", "").replace("\ud800", "")
"""The same in decoded HTML (a decoder never yields NUL or lone surrogates)."""


def parse(
    html: str, url: str = URL, entry: FeedEntry | None = None, *, final_url: str = ""
) -> Article:
    page = Page(
        url=url,
        final_url=final_url or url,
        status=200,
        content_type="text/html",
        html=html,
        fetched_at=datetime(2026, 11, 2, tzinfo=UTC),
    )
    extraction = extract_document(page, options=OPTIONS)
    return parse_article(extraction, page, entry or FeedEntry(url=url), min_words=30)


def published(article: Article) -> dict[str, Any]:
    """The article as a consumer decodes it from the stream (and the schema's verdict)."""
    body: dict[str, Any] = json.loads(encode_article(article)["body"])
    assert body_errors(body) == []
    return body


def strings(value: Any, path: str = "$") -> list[tuple[str, str]]:
    """Every string in a JSON value, with where it is (dict keys too)."""
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [(f"{path}.{k}#key", k), *strings(v, k)]]
    if isinstance(value, list):
        return [s for i, v in enumerate(value) for s in strings(v, f"{path}[{i}]")]
    return []


def assert_safe(body: dict[str, Any]) -> None:
    for path, value in strings(body):
        assert not UNSAFE.search(value), (path, value[:120])
        if path not in ("text", "body"):
            assert "\n" not in value and "\t" not in value, (path, value[:120])
        assert not re.search("[\U000e0000-\U000e007f]", value), path


def json_ld(**fields: Any) -> str:
    data = {"@context": "https://schema.org", "@type": "NewsArticle", **fields}
    return f'<script type="application/ld+json">{json.dumps(data)}</script>'


# --- point 4: control characters ---------------------------------------------------------


def test_control_and_bidi_characters_from_json_ld_and_the_body_are_not_published() -> None:
    declared = json_ld(
        headline=f"Council votes {HOSTILE}on the budget",
        description=f"The vote{HOSTILE} was close.",
        author=[{"name": "Jane\x1b\x07\u202e\x9b\ud800\x7f Doe"}],
        articleSection=f"Local{HOSTILE}",
        keywords=[f"budget{HOSTILE}", "council"],
        publisher={"name": f"The{HOSTILE} Gazette"},
        datePublished=f"not a date{HOSTILE}",
    )
    closing = f"Closing paragraph{IN_HTML} with its own words to keep."
    html = f"""<html><head><title>x</title>{declared}</head><body><article>
    <figure><img src="/a.jpg"><figcaption>Harbour{IN_HTML} (AFP)</figcaption></figure>
    {BODY}<p>{closing}</p></article></body></html>"""
    article = parse(html)
    body = published(article)
    assert_safe(body)
    assert body["title"] == "Council votes [2J]0;owned31mon the budget"
    assert body["authors"] == ["Jane Doe"]
    assert "\n\n" in body["text"] and "Closing paragraph[2J" in body["text"]


def test_control_characters_in_feed_title_authors_and_summary_are_not_published() -> None:
    entry = FeedEntry(
        url=URL,
        feed_url="https://news.example/feed",
        title=f"Feed\ttitle\n{HOSTILE}here",
        authors=("Ann\x1b[1m Lee", HOSTILE, "\x07"),
        summary=f"Summary\r\nline{HOSTILE}",
    )
    body = published(parse(f"<html><body><article>{BODY}</article></body></html>", entry=entry))
    assert_safe(body)
    assert body["title"] == "Feed title [2J]0;owned31mhere"
    assert body["authors"] == ["Ann[1m Lee", "[2J]0;owned31m"]
    assert body["description"] == "Summary line[2J]0;owned31m"
    assert body["provenance"]["title"] == "feed"


def test_a_field_of_control_characters_only_falls_back_to_the_next_source() -> None:
    declared = json_ld(headline="\x1b\x07\u202e", image="javascript:alert(1)")
    html = f"""<html><head><meta property="og:title" content="Real headline of the story">
    {declared}
    <meta property="og:image" content="data:image/png;base64,AAAA">
    </head><body><article>{BODY}</article></body></html>"""
    body = published(parse(html))
    assert body["title"] == "Real headline of the story"
    assert body["image"] == "" and "image" not in body["provenance"]


def test_direction_marks_stay_but_overrides_and_isolates_go() -> None:
    assert clean_line("\u202bمرحبا\u202c \u200fabc\u200e") == "مرحبا \u200fabc\u200e"
    assert clean_line("invoice\u202egnp.exe") == "invoicegnp.exe"
    england = "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"
    assert clean_line(f"Go {england}!") == f"Go {england}!"
    assert clean_line("hidden\U000e0069\U000e0067\U000e006e text") == "hidden text"


def test_body_text_keeps_newlines_and_tabs_only() -> None:
    assert strip_unsafe("a\r\nb\x0bc\u2028d\te\x1b[0m\x1ff", multiline=True) == "a\nb\nc\nd\te[0m f"


# --- point 5: caps --------------------------------------------------------------------------


def test_oversized_fields_are_capped_and_bad_urls_refused() -> None:
    huge = "word " * 198_000  # 990,000 characters
    names = [{"name": f"Author {a}{b} Smith"} for a in "ABCDEFGHIJ" for b in "klmno"]
    tags = ", ".join(f"tag{i}" for i in range(200))
    declared = json_ld(author=names, image="/img/photo.jpg")
    site, section, pixels = "Gazette " * 1000, "Section " * 1000, "A" * 5000
    captions = "A long caption. " * 400
    long_path = "a" * 100_000
    html = f"""<html><head>
    <meta property="og:title" content="{huge}">
    <meta property="og:description" content="{huge}">
    <meta property="og:site_name" content="{site}">
    <meta property="article:section" content="{section}">
    <meta name="keywords" content="{tags}">
    <meta property="og:image" content="data:image/png;base64,{pixels}">
    <meta name="twitter:image" content="javascript:alert(1)">
    <link rel="canonical" href="https://news.example/{long_path}">
    {declared}
    </head><body><article>
    <figure><img src="data:image/gif;base64,R0lGOD" data-src="/lazy.jpg">
      <figcaption>{captions}</figcaption></figure>
    <figure><img src="javascript:alert(1)"><figcaption>Script</figcaption></figure>
    {BODY}</article></body></html>"""
    article = parse(html)
    body = published(article)
    assert len(body["title"]) <= MAX_TITLE and body["title"].endswith("word…")
    assert len(body["description"]) <= MAX_DESCRIPTION and body["description"].endswith("…")
    assert len(body["source"]["name"]) <= MAX_SITE_NAME
    assert len(body["section"]) <= MAX_SECTION and body["categories"] == [body["section"]]
    assert len(body["authors"]) == MAX_AUTHORS
    assert len(body["tags"]) == MAX_TAGS
    assert body["canonical_url"] == URL and body["id"] == url_id(URL)
    assert body["image"] == "https://news.example/img/photo.jpg"
    assert [i["url"] for i in body["images"]] == ["https://news.example/lazy.jpg"]
    assert len(body["images"][0]["caption"]) <= MAX_CAPTION


def test_over_long_authors_tags_and_urls_never_get_past_the_caps() -> None:
    long_name = "Name " * 60
    entry = FeedEntry(url=URL, authors=(long_name, *(f"Writer {i}" for i in range(20))))
    body = published(parse(f"<html><body><article>{BODY}</article></body></html>", entry=entry))
    assert len(body["authors"]) == MAX_AUTHORS
    assert all(len(a) <= MAX_AUTHOR for a in body["authors"])
    assert body["authors"][0].endswith("Name…")
    assert all(len(t) <= MAX_TAG for t in body["tags"])


def test_over_long_page_url_is_refused_not_cut() -> None:
    long_url = f"https://news.example/{'b' * MAX_URL}"
    with pytest.raises(FetchRefused):
        parse(f"<html><body><article>{BODY}</article></body></html>", url=long_url)


def test_shorten_cuts_at_a_word_boundary_within_the_cap() -> None:
    assert shorten("short", 10) == "short"
    assert shorten("The quick brown fox jumps", 12) == "The quick…"
    assert shorten("The quick brown fox", 10) == "The quick…"
    assert shorten("aaaa " + "b" * 30, 20) == "aaaa " + "b" * 14 + "…"  # no space in 2nd half
    assert shorten("市立図書館市立図書館", 5) == "市立図書…"
    assert shorten("Cafe\u0301s", 5) == "Caf…"  # not between a letter and its accent


def test_cap_blocks_keeps_whole_paragraphs_and_cuts_a_lone_giant_one() -> None:
    blocks = tuple(Block(kind="p", text=f"Paragraph {i} " + "word " * 20) for i in range(10))
    kept = cap_blocks(blocks, max_text=400, max_markup=10**6)
    assert len("\n\n".join(b.text for b in kept)) <= 400 and kept == blocks[: len(kept)]
    giant = (Block(kind="p", text="word " * 1000, markup="<p>" + "word " * 1000 + "</p>"),)
    [cut] = cap_blocks(giant, max_text=100, max_markup=10**6)
    assert len(cut.text) <= 100 and cut.text.endswith("word…") and cut.markup.startswith("<p>")


# --- point 10: IRIs become URIs -------------------------------------------------------------


@pytest.mark.parametrize(
    ("iri", "uri"),
    [
        ("https://example.com/a b", "https://example.com/a%20b"),
        ('https://example.com/say"hi"', "https://example.com/say%22hi%22"),
        ("https://example.com/café?q=é#é", "https://example.com/caf%C3%A9?q=%C3%A9#%C3%A9"),
        ("https://bücher.example/x", "https://xn--bcher-kva.example/x"),
        ("https://BÜCHER.example/x", "https://xn--bcher-kva.example/x"),
        ("https://faß.de/", "https://xn--fa-hia.de/"),  # IDNA 2008, as browsers: not fass.de
        ("https://例え.テスト/", "https://xn--r8jz45g.xn--zckzah/"),
        ("https://example.com/a%20b?q=%C3%A9", "https://example.com/a%20b?q=%C3%A9"),
        ("https://example.com/100%?x=%zz", "https://example.com/100%25?x=%25zz"),
        ("https://example.com/a?b=[1]&c=<d>", "https://example.com/a?b=%5B1%5D&c=%3Cd%3E"),
        ("https://example.com/it's", "https://example.com/it's"),  # ' is a sub-delim: valid
        (" https://example.com/a\tb\n", "https://example.com/ab"),
        ("https://example.com/\x1b[2J", "https://example.com/%1B%5B2J"),
        ("http://[::1]:8080/a", "http://[::1]:8080/a"),
        ("file:///tmp/a b.html", "file:///tmp/a%20b.html"),
    ],
)
def test_as_uri_percent_encodes_once_and_writes_hosts_in_punycode(iri: str, uri: str) -> None:
    assert as_uri(iri) == uri
    assert as_uri(uri) == uri  # idempotent: never encoded twice


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "/relative",
        "https://exa mple.com/",
        "http://h:99999/",
        "https://[x/",
        "https:///x",
        "https://user@/x",
        "http://[fe80::1%25eth0]/",
    ],
)
def test_as_uri_refuses_what_is_no_uri(bad: str) -> None:
    assert as_uri(bad) == ""


def test_image_urls_are_absolute_http() -> None:
    assert image_url("https://cdn.example/é.jpg") == "https://cdn.example/%C3%A9.jpg"
    for bad in ("data:image/png;base64,AAAA", "javascript:alert(1)", "/a.jpg", "ftp://x/a.jpg"):
        assert image_url(bad) == ""


def test_published_urls_are_uris_and_ids_do_not_change() -> None:
    fetched = 'https://bücher.example/news/a b"c/é?q=é x&r=%20'
    entry = FeedEntry(url=fetched, feed_url="https://bücher.example/feed é.xml")
    html = f"""<html><head><meta property="og:image" content="/img/é photo.jpg"></head>
    <body><article>
    <figure><img src="/img/caf%C3%A9 1.jpg"><figcaption>A café</figcaption></figure>
    {BODY}</article></body></html>"""
    body = published(parse(html, url=fetched, entry=entry))
    assert body["url"] == "https://xn--bcher-kva.example/news/a%20b%22c/%C3%A9?q=%C3%A9%20x&r=%20"
    assert body["canonical_url"].startswith("https://xn--bcher-kva.example/news/a%20b%22c/%C3%A9?")
    assert "%25" not in body["canonical_url"] + body["url"]
    assert body["feed_url"] == "https://xn--bcher-kva.example/feed%20%C3%A9.xml"
    assert body["image"] == "https://xn--bcher-kva.example/img/%C3%A9%20photo.jpg"
    assert body["images"][0]["url"] == "https://xn--bcher-kva.example/img/caf%C3%A9%201.jpg"
    assert body["id"] == url_id(canonical_url(fetched))  # the id of the same page before
    assert body["source"]["domain"] == "bücher.example"


def test_malformed_declared_urls_do_not_break_the_article() -> None:
    html = f"""<html><head><link rel="canonical" href="https://[broken/story">
    <meta property="og:image" content="http://[broken/a.jpg">
    </head><body><article>
    <figure><img src="http://[broken/x.jpg"><figcaption>Broken</figcaption></figure>
    {BODY}</article></body></html>"""
    body = published(parse(html))
    assert body["canonical_url"] == URL and body["image"] == "" and body["images"] == []
    port = published(parse(html.replace("[broken", "news.example:99999")))
    assert port["canonical_url"] == URL


def test_the_schema_documents_every_cap() -> None:
    props = SCHEMA["properties"]["body"]["properties"]
    assert props["title"]["maxLength"] == MAX_TITLE
    assert props["description"]["maxLength"] == MAX_DESCRIPTION
    assert props["authors"]["maxItems"] == MAX_AUTHORS
    assert props["authors"]["items"]["maxLength"] == MAX_AUTHOR
    assert props["tags"]["maxItems"] == MAX_TAGS and props["tags"]["items"]["maxLength"] == MAX_TAG
    assert SCHEMA["$defs"]["uri"]["maxLength"] == MAX_URL
    assert body_errors({**published_example(), "image": "data:image/png;base64,AAAA"})
    assert body_errors({**published_example(), "title": "a\x1bb"})
    assert body_errors({**published_example(), "url": "https://example.com/a b"})


def published_example() -> dict[str, Any]:
    return article_dict(parse(f"<html><body><article>{BODY}</article></body></html>"))


@pytest.mark.parametrize(
    ("name", "page_file", "url"), golden_cases(), ids=[c[0] for c in golden_cases()]
)
def test_golden_articles_validate_against_every_keyword_of_the_schema(
    name: str, page_file: Path, url: str
) -> None:
    article = golden_view(page_file, url)
    if "dropped" not in article:
        assert body_errors({**article, "fetched_at": "2026-11-02T00:00:00Z"}) == []
