"""Extraction without Redis or Celery: local files and single URLs (``newsflow extract``)."""

from __future__ import annotations

import gzip
from functools import cache
from pathlib import Path
from typing import Any

import msgspec

from pipeline.article.assemble import parse_article
from pipeline.article.extract import ExtractOptions, build_extractor, extract_document
from pipeline.errors import FetchRefused
from pipeline.fetch.charset import decode_html
from pipeline.fetch.client import Fetcher, fetch_page
from pipeline.models import Article, FeedEntry, Page, utc_now
from pipeline.settings import ExtractSettings, Settings


@cache
def _extractor(settings: ExtractSettings) -> ExtractOptions:
    return build_extractor(settings)


def read_page_file(path: Path, *, url: str, max_bytes: int) -> Page:
    """Read an .html or .html.gz file into a Page fetched from ``url``.

    Raises:
        FetchRefused: the file is empty, over ``max_bytes`` or not HTML.
        OSError, gzip.BadGzipFile: it cannot be read.
    """
    body = _read_at_most(path, max_bytes + 1)
    if len(body) > max_bytes:
        raise FetchRefused(f"file is over the {max_bytes}-byte cap", url=url)
    if not body.strip() or b"<" not in body[:4096]:
        raise FetchRefused("file is empty or not HTML", url=url)
    return page_from_html(url, decode_html(body, ""))


def page_from_html(url: str, html: str, content_type: str = "text/html") -> Page:
    """A page as if fetched now from ``url`` with status 200 (for offline extraction)."""
    return Page(
        url=url,
        final_url=url,
        status=200,
        content_type=content_type,
        html=html,
        fetched_at=utc_now(),
    )


def _read_at_most(path: Path, size: int) -> bytes:
    if path.suffix == ".gz":
        with gzip.open(path, "rb") as stream:
            return stream.read(size)
    with path.open("rb") as raw:
        return raw.read(size)


def extract_page(page: Page, settings: Settings) -> Article:
    """Extract and parse one page with this process's extractor options.

    Raises:
        DropArticle: no article in this page.
    """
    extraction = extract_document(page, options=_extractor(settings.extract))
    return parse_article(
        extraction,
        page,
        FeedEntry(url=page.url),
        min_words=settings.extract.min_words,
        words_per_minute=settings.extract.words_per_minute,
    )


def extract_input(item: str, settings: Settings, base_url: str | None) -> dict[str, Any]:
    """The article of a file path or http(s) URL, as a JSON-ready dict.

    Raises:
        PipelineError: fetching or extraction failed.
        OSError, gzip.BadGzipFile: a file cannot be read.
    """
    if item.startswith(("http://", "https://")):
        fetcher = Fetcher(settings.fetch)
        try:
            page = fetch_page(fetcher, item)
        finally:
            fetcher.close()
    else:
        path = Path(item)
        url = base_url or path.resolve().as_uri()
        page = read_page_file(path, url=url, max_bytes=settings.fetch.max_page_bytes)
    return article_dict(extract_page(page, settings))


def article_dict(article: Article) -> dict[str, Any]:
    """An Article as plain JSON types (the same shape as the stream body)."""
    result: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(article))
    return result
