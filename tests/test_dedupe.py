"""URL identity and content fingerprints."""

from __future__ import annotations

from pipeline.dedupe import (
    canonical_url,
    identity_url,
    near_duplicate_anchors,
    text_fingerprint,
    trusted_canonical,
    url_id,
)


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


def test_canonical_url_keeps_parameters_that_identify_articles() -> None:
    a = "http://entermedia.co.kr/news/news_view.html?idx=8576&page=1&bc=03&mc=08&find=&sch_date="
    b = "http://entermedia.co.kr/news/news_view.html?idx=8723&page=1&bc=&mc=&find=&sch_date="
    assert url_id(a) != url_id(b)
    assert "idx=8576" in canonical_url(a)


def test_identity_url_folds_www_mobile_amp_index_and_slash() -> None:
    same = [
        "http://www.example.com/news/a/",
        "https://example.com/news/a/index.html",
        "https://m.example.com/news/a?utm_source=x",
        "https://example.com/news/a/amp",
        "https://amp.example.com/news/a?amp=1",
        "https://example.com/amp/news/a#comments",
    ]
    assert {identity_url(u) for u in same} == {"https://example.com/news/a"}
    assert len({url_id(u) for u in same}) == 1
    assert identity_url("https://example.com/a?id=3&outputType=amp") == "https://example.com/a?id=3"
    assert url_id("https://example.com/a") != url_id("https://example.com/b")


def test_near_duplicate_anchors_survive_boilerplate_edits_and_cuts() -> None:
    words = " ".join(f"word{i} fox{i % 7} jumps{i % 11}" for i in range(400))
    anchors = near_duplicate_anchors(words)
    assert 3 <= len(anchors) <= 48
    wrapped = near_duplicate_anchors("Subscribe now! " + words + " Copyright 2026.")
    cut = near_duplicate_anchors(" ".join(words.split()[:600]))
    assert len(set(anchors) & set(wrapped)) >= len(anchors) - 2
    assert set(cut) <= set(anchors) | set(near_duplicate_anchors(words + " extra"))
    assert not set(anchors) & set(near_duplicate_anchors("completely different text " * 100))
