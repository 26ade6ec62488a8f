"""Article extraction from HTML. The only module that imports trafilatura.

Uses trafilatura's ``bare_extraction`` (structured output: no metadata header in the text,
no comments) with options built once per process by :func:`build_extractor`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import trafilatura
from lxml.html import HtmlElement
from trafilatura.settings import Document, Extractor
from trafilatura.utils import load_html

from pipeline.errors import ExtractionFailed, NotAnArticle
from pipeline.models import ExtractorInfo, Page
from pipeline.settings import ExtractSettings

_DATE_PARAMS = {
    "extensive_search": True,
    "original_date": True,
    "outputformat": "%Y-%m-%dT%H:%M:%S%z",
}
_CAPTION_XPATH = (
    "//figcaption | //*[contains(@class, 'caption') and not(self::body) and not(self::article)]"
)
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
    captions: tuple[str, ...] = ()


def build_extractor(settings: ExtractSettings) -> Extractor:
    """The trafilatura options object, built once per process from Settings."""
    return Extractor(
        output_format="python",
        precision=settings.favor_precision,
        comments=False,
        with_metadata=True,
        tables=True,
        date_params=cast(dict[str, str], _DATE_PARAMS),
    )


def extract_document(page: Page, *, options: Extractor) -> Extraction:
    """Extract the main text and metadata of one page.

    Raises:
        ExtractionFailed: trafilatura raised on this page.
        NotAnArticle: it found no main text.
    """
    try:
        tree = load_html(page.html)
        captions = _captions(tree) if tree is not None else ()
        doc = trafilatura.bare_extraction(tree, url=page.final_url, options=options)
    except (ValueError, TypeError, AttributeError, RecursionError, MemoryError) as exc:
        raise ExtractionFailed(
            f"extractor error: {type(exc).__name__}: {exc}", url=page.url
        ) from exc
    if not isinstance(doc, Document) or not (doc.text or "").strip():
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
        captions=captions,
    )


def _captions(tree: HtmlElement) -> tuple[str, ...]:
    """Texts of photo captions (<figcaption>, caption-classed elements), to keep out of the body."""
    found: list[str] = []
    for node in tree.xpath(_CAPTION_XPATH)[:100]:
        text = " ".join(node.text_content().split())
        if text and text not in found:
            found.append(text)
    return tuple(found)
