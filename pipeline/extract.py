"""Article extraction from HTML. The only module that imports trafilatura.

Uses trafilatura's ``bare_extraction`` (structured output: no metadata header in the text,
no comments) with options built once per process by :func:`build_extractor`.
"""

from __future__ import annotations

from dataclasses import dataclass

import trafilatura
from trafilatura.settings import Extractor

from pipeline.errors import ExtractionFailed, NotAnArticle
from pipeline.models import ExtractorInfo, Page
from pipeline.settings import ExtractSettings

EXTRACTOR = ExtractorInfo(name="trafilatura", version=trafilatura.__version__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Extraction:
    """What the extractor found in a page, before cleaning and validation."""

    title: str
    text: str
    authors: str
    date: str
    description: str
    sitename: str
    hostname: str
    canonical_url: str
    language: str
    categories: tuple[str, ...]
    tags: tuple[str, ...]
    image: str


def build_extractor(settings: ExtractSettings) -> Extractor:
    """The trafilatura options object, built once per process from Settings."""
    return Extractor(
        output_format="python",
        precision=settings.favor_precision,
        comments=False,
        with_metadata=True,
        tables=True,
        date_params={"extensive_search": True, "original_date": True,
                     "outputformat": "%Y-%m-%dT%H:%M:%S%z"},
    )


def extract_document(page: Page, *, options: Extractor) -> Extraction:
    """Extract the main text and metadata of one page.

    Raises:
        ExtractionFailed: trafilatura raised on this page.
        NotAnArticle: it found no main text.
    """
    try:
        doc = trafilatura.bare_extraction(page.html, url=page.final_url, options=options)
    except (ValueError, TypeError, AttributeError, RecursionError, MemoryError) as exc:
        raise ExtractionFailed(f"extractor error: {type(exc).__name__}: {exc}",
                               url=page.url) from exc
    if doc is None or not (doc.text or "").strip():
        raise NotAnArticle("no main text found", url=page.url)
    return Extraction(
        title=doc.title or "",
        text=doc.text or "",
        authors=doc.author or "",
        date=doc.date or "",
        description=doc.description or "",
        sitename=doc.sitename or "",
        hostname=doc.hostname or "",
        canonical_url=doc.url or "",
        language=doc.language or "",
        categories=tuple(doc.categories or ()),
        tags=tuple(doc.tags or ()),
        image=doc.image or "",
    )
