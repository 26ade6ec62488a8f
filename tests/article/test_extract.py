"""Golden files: each fixture page's extracted Article (fetched_at left out).

A page that is not an article has a golden file too: ``{"dropped": <check>, "error": ...}``.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pipeline.article.extract import build_extractor
from pipeline.article.standalone import article_dict, extract_page, read_page_file
from pipeline.errors import FetchRefused, NotAnArticle
from pipeline.local.site import sample_site_dir
from pipeline.models import Page
from pipeline.schemas import schema_text
from pipeline.settings import ExtractSettings, Settings

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "golden"
PAGES_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "pages"
BASE = "https://gazette.example"


def golden_cases() -> list[tuple[str, Path, str]]:
    """(name, page file, URL it was fetched from) for every golden page."""
    site = sample_site_dir()
    cases = [
        (f"sample-{p.stem}", p, f"{BASE}/{p.relative_to(site).as_posix()}")
        for p in sorted(site.glob("*/*.html"))
    ]
    cases += [
        (p.name.split(".")[0], p, f"{BASE}/news/{p.name.split('.')[0]}")
        for p in sorted(PAGES_DIR.glob("*.html*"))
    ]
    return cases


def golden_view(page_file: Path, url: str) -> dict[str, Any]:
    """The extracted article as stored in a golden file."""
    page = read_page_file(page_file, url=url, max_bytes=5 * 1024 * 1024)
    html = page.html.replace("{{BASE}}", BASE)
    try:
        extracted = extract_page(
            page.__class__(
                url=page.url,
                final_url=page.final_url,
                status=200,
                content_type="text/html",
                html=html,
                fetched_at=page.fetched_at,
            ),
            Settings(),
        )
    except NotAnArticle as exc:
        return {"dropped": exc.check, "error": exc.message}
    article = article_dict(extracted)
    article.pop("fetched_at")
    return article


@pytest.mark.parametrize(
    ("name", "page_file", "url"), golden_cases(), ids=[c[0] for c in golden_cases()]
)
def test_golden(name: str, page_file: Path, url: str) -> None:
    golden = GOLDEN_DIR / f"{name}.json"
    assert golden.exists(), f"missing {golden}: run scripts/regenerate_golden.py and review"
    expected = json.loads(golden.read_text(encoding="utf-8"))
    assert golden_view(page_file, url) == expected


@pytest.mark.parametrize(
    ("name", "page_file", "url"), golden_cases(), ids=[c[0] for c in golden_cases()]
)
def test_body_is_clean(name: str, page_file: Path, url: str) -> None:
    article = golden_view(page_file, url)
    if "dropped" in article:
        return
    paragraphs = article["text"].split("\n\n")
    assert article["title"] and article["title"] not in paragraphs
    assert len(paragraphs) == len(set(paragraphs))
    assert not {"TT", "Share", "Tweet"} & set(paragraphs)
    assert not any(p.endswith(("(AFP)", "Reuters")) for p in paragraphs), "caption in body"


@pytest.mark.parametrize("body_format", ["markdown", "html"])
def test_body_format_adds_marked_up_body(body_format: str) -> None:
    page = read_page_file(PAGES_DIR / "repeated-headline.html", url=f"{BASE}/x", max_bytes=10**6)
    settings = Settings(extract=ExtractSettings(body_format=body_format))  # type: ignore[arg-type]
    article = extract_page(page, settings)
    assert article.body_format == body_format and article.body
    assert "Mill Street" in article.body and "newsletter" not in article.body
    if body_format == "html":
        assert article.body.startswith("<p>")


def test_page_over_the_cap_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.html"
    big.write_text("<html><body>" + "<p>word</p>" * 1000 + "</body></html>")
    with pytest.raises(FetchRefused):
        read_page_file(big, url=f"{BASE}/big", max_bytes=1000)


SCHEMA = json.loads(schema_text(1))["properties"]["body"]


@pytest.mark.parametrize(
    ("name", "page_file", "url"), golden_cases(), ids=[c[0] for c in golden_cases()]
)
def test_article_matches_the_schema(name: str, page_file: Path, url: str) -> None:
    article = golden_view(page_file, url)
    if "dropped" in article:
        return
    assert set(SCHEMA["required"]) <= set(article) | {"fetched_at"}
    assert set(article) <= set(SCHEMA["properties"]), (
        "field missing from pipeline/schemas/article-v1.json"
    )


def test_trafilatura_discard_notice_is_silenced_other_warnings_are_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    build_extractor(ExtractSettings())
    core_log = logging.getLogger("trafilatura.core")
    with caplog.at_level(logging.WARNING):
        core_log.warning("discarding data: %s", "https://example.com/short")
        core_log.warning("something else went wrong")
    assert [r.getMessage() for r in caplog.records] == ["something else went wrong"]


def test_hostile_listing_page_is_bounded_and_dropped() -> None:
    """2 MB of link lines: one extraction pass (about plain trafilatura's time), then a drop.

    (40,000 elements in sections of 1,000 rows: within the structural bounds of
    pipeline.article.bounds, which refuse twice as many before extraction.)"""
    rows = "".join(
        "<section>"
        + "".join(
            f"<div><a href='/x{i}'>Council approves harbour budget {i}</a></div>"
            for i in range(start, start + 1000)
        )
        + "</section>"
        for start in range(0, 20000, 1000)
    )
    page = Page(
        url="http://x.test/a",
        final_url="http://x.test/a",
        status=200,
        content_type="text/html",
        html=f"<html><body>{rows}</body></html>",
        fetched_at=datetime.now(UTC),
    )
    started = time.monotonic()
    with pytest.raises(NotAnArticle):
        extract_page(page, Settings())
    print(f"\nhostile listing page: dropped after {time.monotonic() - started:.1f} s")


def _page(body: str) -> Page:
    return Page(
        url=f"{BASE}/a",
        final_url=f"{BASE}/a",
        status=200,
        content_type="text/html",
        html=f"<html><head><title>Noem defends campaign</title></head><body>{body}</body></html>",
        fetched_at=datetime.now(UTC),
    )


def test_hover_card_inside_a_paragraph_stays_out_of_the_body() -> None:
    """A name linked in the text may carry a hidden card (photo, full name, their stories)."""
    card = (
        '<span class="card"><img src="/p.jpg" alt=""><a href="/people/jd">Jane Lynn Doe</a>'
        '<a href="/s/1">Governor doubles down on campaign</a> '
        '<a href="/s/2">State drops protest laws after lawsuit</a>'
        '<a href="/people/jd">MORE</a></span>'
    )
    prose = " ".join(["The campaign drew criticism and ridicule on Monday."] * 8)
    body = (
        f'<article><p>Gov. <span><a href="/people/jd">Jane Doe</a>{card}</span> (R) is'
        f" defending the launch of an anti-drug campaign.</p><p>{prose}</p>"
        f"<p>{prose}</p></article>"
    )
    article = extract_page(_page(body), Settings())
    first = article.text.split("\n\n")[0]
    assert first == "Gov. Jane Doe (R) is defending the launch of an anti-drug campaign."
