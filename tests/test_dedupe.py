"""URL identity and content fingerprints."""

from __future__ import annotations

from pipeline.dedupe import canonical_url, text_fingerprint, trusted_canonical, url_id


def test_canonical_url_drops_tracking_fragment_default_port_and_case() -> None:
    messy = "HTTP://Example.COM:80/news/a?utm_source=rss&utm_medium=feed&id=3&fbclid=x#top"
    assert canonical_url(messy) == "http://example.com/news/a?id=3"
    assert url_id(messy) == url_id("http://example.com/news/a?id=3")


def test_trusted_canonical_refuses_other_hosts_and_site_roots() -> None:
    fetched = "https://www.example.com/story?utm_source=x"
    assert (
        trusted_canonical("https://example.com/story-1", fetched) == "https://example.com/story-1"
    )
    assert (
        trusted_canonical("https://evil.example.org/x", fetched) == "https://www.example.com/story"
    )
    assert trusted_canonical("https://example.com/", fetched) == "https://www.example.com/story"
    assert trusted_canonical("", fetched) == "https://www.example.com/story"


def test_fingerprint_ignores_case_punctuation_and_spacing() -> None:
    a = text_fingerprint("Hello, World!\n\nSecond  paragraph.")
    assert a == text_fingerprint("hello world second paragraph")
    assert a != text_fingerprint("hello world second paragraph changed")
