"""URL identity and content fingerprints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import dedupe
from pipeline.dedupe import (
    ANCHOR_SHINGLE,
    LEAD_MAX,
    MAX_ANCHORS,
    SPREAD_MAX,
    canonical_url,
    identity_url,
    near_duplicate_anchors,
    text_fingerprint,
    text_signature,
    trusted_canonical,
    url_id,
)

ROOT = Path(__file__).resolve().parents[1]


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
    assert text_fingerprint("__snake_case — “ﬁne” ½__") == text_fingerprint("snake case fine 1 2")
    assert text_fingerprint("") == text_fingerprint(" ,;_ ")  # nothing left: the same empty text


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


def _story(words: int) -> str:
    return " ".join(f"word{i} fox{i % 7} jumps{i % 11}" for i in range(words // 3))


def test_near_duplicate_anchors_survive_boilerplate_edits_and_cuts() -> None:
    words = _story(1200)
    anchors = near_duplicate_anchors(words)
    assert 3 <= len(anchors) <= MAX_ANCHORS
    wrapped = near_duplicate_anchors("Subscribe now! " + words + " Copyright 2026.")
    cut = near_duplicate_anchors(" ".join(words.split()[:600]))
    assert len(set(anchors) & set(wrapped)) >= len(anchors) - 2
    assert set(cut) <= set(anchors) | set(near_duplicate_anchors(words + " extra"))
    assert not set(anchors) & set(near_duplicate_anchors("completely different text " * 100))


def test_near_duplicate_anchors_ignore_case_punctuation_spacing_and_compatibility_forms() -> None:
    text = _story(900)
    respelled = "“" + text.upper().replace(" ", ",\n  ").replace("1", "\uff11") + "”"
    assert near_duplicate_anchors(respelled) == near_duplicate_anchors(text) != ()


def test_near_duplicate_anchors_of_a_cut_copy_are_the_originals_first() -> None:
    text = _story(3000)
    full = near_duplicate_anchors(text)
    for kept in (150, 600, 1200):
        cut = near_duplicate_anchors(" ".join(text.split()[:kept]))
        assert cut == full[: len(cut)]
    assert len(full) == MAX_ANCHORS  # capped, from the start of the text


def test_near_duplicate_anchors_are_unique_hex_in_text_order() -> None:
    once = near_duplicate_anchors(_story(300))
    anchors = near_duplicate_anchors(" ".join([_story(300)] * 20))
    assert len(set(anchors)) == len(anchors) >= 3
    assert all(len(a) == 16 and int(a, 16) >= 0 for a in anchors)
    # repeats add only the shingles across the seam (ANCHOR_SHINGLE - 1 of them)
    assert anchors[: len(once)] == once and len(anchors) <= len(once) + ANCHOR_SHINGLE - 1
    assert near_duplicate_anchors("") == near_duplicate_anchors("one two three four five") == ()


def test_near_duplicate_anchors_read_in_pieces_equal_the_whole_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = (
        "Caf\u00e9 cafe\u0301 \ufb01ne \u00bd \u2163 stra\u00dfe STRASSE \u0130stanbul "
        "\u00a8 \u0308x \u1100 \u1161 \u1100\u1161 \uac00 \u0915\u093c \u6771\u4eac\u90fd "
        "news_item \u2460 \u2002 x\u00a0y \u03a3\u03a3 \u1e9b\u0323 "
    ) * 60 + _story(2400)
    # pieces end before a space: their words are the whole text's
    cuts = [i for i, char in enumerate(text) if char == " "]
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    assert [word for piece in pieces for word in dedupe._words(piece)] == dedupe._words(text)
    whole = near_duplicate_anchors(text)
    assert len(whole) >= 10
    for chars in (1, 7, 50, 333):
        monkeypatch.setattr(dedupe, "_PIECE_CHARS", chars)
        assert near_duplicate_anchors(text) == whole


def test_near_duplicate_anchors_are_the_same_in_every_process() -> None:
    text = _story(1500) + " Ünïcödé “quotes” 東京"
    code = (
        "import sys; from pipeline.dedupe import near_duplicate_anchors as a; print(a(sys.argv[1]))"
    )
    seen = {
        subprocess.run(
            [sys.executable, "-c", code, text],
            env={**os.environ, "PYTHONHASHSEED": seed},
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert seen == {f"{near_duplicate_anchors(text)}\n"}


def test_signature_samples_the_whole_text_and_indexes_its_start() -> None:
    text = _story(3000)
    signature = text_signature(text)
    assert len(signature.spread) == SPREAD_MAX and signature.cut == max(signature.spread)
    assert set(signature.spread) | set(signature.lead) <= set(signature.lookup)
    assert 0 < len(signature.lead) <= LEAD_MAX
    # a copy cut to its first 40 words shares the lead shingles and sketch
    teaser = text_signature(" ".join(text.split()[:40]))
    assert set(teaser.lookup) & set(signature.lead)
    own = {teaser.sketch[i : i + 4] for i in range(0, len(teaser.sketch), 4)}
    assert own <= {signature.sketch[i : i + 4] for i in range(0, len(signature.sketch), 4)}
    assert text_signature(text.upper()) == signature
    assert not set(text_signature(_story(900).replace("fox", "cat")).lookup) & set(signature.lookup)
