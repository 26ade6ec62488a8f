"""Golden files: each fixture page's extracted Article (fetched_at left out)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipeline.local_site import sample_site_dir
from pipeline.offline import article_dict, extract_page, read_page_file
from pipeline.settings import Settings

GOLDEN_DIR = Path(__file__).resolve().parent / "fixtures" / "golden"
PAGES_DIR = Path(__file__).resolve().parent / "fixtures" / "pages"
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
    article = article_dict(
        extract_page(
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
    )
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
    paragraphs = article["text"].split("\n\n")
    assert article["title"] and article["title"] not in paragraphs
    assert len(paragraphs) == len(set(paragraphs))
    assert not {"TT", "Share", "Tweet"} & set(paragraphs)
    assert not any(p.endswith(("(AFP)", "Reuters")) for p in paragraphs), "caption in body"
