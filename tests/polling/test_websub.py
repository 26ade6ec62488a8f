"""WebSub's pure rules: discovery (Link headers, the document's links)."""

from __future__ import annotations

import pytest

from pipeline.polling.feeds import ParsedFeed
from pipeline.polling.websub import declared_hub, parse_link_header

FEED = "https://news.example/feeds/main.xml"


def _parsed(hubs: tuple[str, ...] = (), self_url: str = "") -> ParsedFeed:
    return ParsedFeed(title="t", entries=(), skipped=0, hubs=hubs, self_url=self_url)


# ------------------------------------------------------------------ Link header parsing


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("<https://hub.example/>; rel=hub", [("https://hub.example/", {"hub"})]),
        ('<https://hub.example/>; rel="hub"', [("https://hub.example/", {"hub"})]),
        (
            '<https://hub.example/>; rel="hub", <https://news.example/feed>; rel="self"',
            [("https://hub.example/", {"hub"}), ("https://news.example/feed", {"self"})],
        ),
        # a quoted list of relation types, any case, odd spacing
        (
            '< https://a.example/x >;REL = "Self  alternate" ;type="application/atom+xml"',
            [("https://a.example/x", {"self", "alternate"})],
        ),
        # commas and semicolons inside the target and inside quoted parameters
        (
            '<https://h.example/a,b;c>; title="x, y; z"; rel="hub", <https://s.example/>; rel=self',
            [("https://h.example/a,b;c", {"hub"}), ("https://s.example/", {"self"})],
        ),
        # only the first rel of a link-value counts (RFC 8288, 3.3)
        ('<https://h.example/>; rel="self"; rel="hub"', [("https://h.example/", {"self"})]),
        # an escaped quote inside a quoted value
        (r'<https://h.example/>; title="a \"q\", b"; rel=hub', [("https://h.example/", {"hub"})]),
        # no rel at all, and a malformed link-value between two good ones
        (
            "<https://a.example/>, garbage; rel=hub, <https://b.example/>; rel=hub",
            [("https://a.example/", set()), ("https://b.example/", {"hub"})],
        ),
        ("", []),
        ("not a link header", []),
        ("<https://unterminated.example/; rel=hub", []),
    ],
)
def test_link_header_is_parsed(header: str, expected: list[tuple[str, set[str]]]) -> None:
    assert [(t, set(r)) for t, r in parse_link_header(header)] == expected


# ------------------------------------------------------------------ declared_hub


def test_no_hub_anywhere_is_none() -> None:
    assert declared_hub(_parsed(self_url=FEED), {"link": '<x>; rel="self"'}, FEED) is None


def test_document_hub_with_its_self_url() -> None:
    parsed = _parsed(hubs=("https://hub.example/",), self_url="https://news.example/canonical")
    assert declared_hub(parsed, {}, FEED) == (
        "https://hub.example/",
        "https://news.example/canonical",
    )


def test_topic_is_the_feed_url_without_a_self_link() -> None:
    assert declared_hub(_parsed(hubs=("https://hub.example/",)), {}, FEED) == (
        "https://hub.example/",
        FEED,
    )


def test_link_header_comes_first() -> None:
    """Discovery checks the HTTP Link headers first (WebSub, section 4)."""
    parsed = _parsed(hubs=("https://doc-hub.example/",), self_url="https://news.example/doc-self")
    headers = {
        "link": '<https://header-hub.example/>; rel="hub", </feeds/self.xml>; rel="self"',
    }
    assert declared_hub(parsed, headers, FEED) == (
        "https://header-hub.example/",
        "https://news.example/feeds/self.xml",  # relative to the feed URL
    )


def test_header_hub_takes_the_document_self_when_the_header_has_none() -> None:
    parsed = _parsed(self_url="https://news.example/doc-self")
    headers = {"Link": "<https://header-hub.example/>; rel=hub"}  # any case of the name
    assert declared_hub(parsed, headers, FEED) == (
        "https://header-hub.example/",
        "https://news.example/doc-self",
    )


def test_first_usable_hub_is_taken() -> None:
    parsed = _parsed(hubs=("ftp://hub.example/", "javascript:alert(1)", "https://ok.example/h"))
    assert declared_hub(parsed, {}, FEED) == ("https://ok.example/h", FEED)
    headers = {"link": '<mailto:a@b>; rel="hub", <https://h2.example/>; rel="hub other"'}
    assert declared_hub(_parsed(), headers, FEED) == ("https://h2.example/", FEED)


@pytest.mark.parametrize(
    "hub",
    [
        "https://bad port.example/",
        "http://[::1/",
        "https://h.example:99999/",
        "https://" + "a" * 2100 + ".example/",
        "https://h.example/\x00",
        "",
    ],
)
def test_unusable_hub_urls_are_ignored(hub: str) -> None:
    assert declared_hub(_parsed(hubs=(hub,)), {}, FEED) is None


def test_fragment_is_dropped() -> None:
    parsed = _parsed(hubs=("https://hub.example/#x",), self_url="https://news.example/f#top")
    assert declared_hub(parsed, {}, FEED) == ("https://hub.example/", "https://news.example/f")
