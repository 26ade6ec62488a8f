"""Structural bounds on a page, checked before trafilatura sees it.

The byte cap (``fetch.max_page_bytes``) does not bound extraction: 4 MB of ``<p>x`` is a
million paragraphs, which took a worker to 1.7 GB and 85 s, and 10,000 inline tags in one
``<p>`` cost trafilatura seconds (20,000: most of a minute; its ``//p//text()`` query is
super-linear in the text runs that stripping them leaves). So a page is also bounded by its
shape, in two cheap steps that reuse the one parse:

- before parsing, the number of ``<`` in the text (:func:`check_markup`, one ``str.count``),
  so a page of millions of tags is never built into a tree;
- after parsing, the tree's elements, depth, widest element, elements inside one ``<p>``
  and non-blank text runs (:func:`check_tree`, counted by libxml2 where it can).

Each limit is at least four times the largest real page: measured on the 880 pages of
``shared/corpus`` (article-extraction-benchmark and trafilatura-eval), as parsed for
extraction; the figures are beside each limit (99th percentile, maximum).
"""

from __future__ import annotations

from functools import cache

from lxml.etree import XPath
from lxml.html import HtmlElement

from pipeline.errors import PageTooComplex

MAX_MARKUP = 250_000
"""``<`` characters in the page text: tags, comments and any ``<`` in scripts (corpus: p99
5,882, max 19,629). Every element but the implied ones costs one, so a page of millions of
tags is refused before libxml2 builds it (a million ``<p>`` parsed take about 300 MB)."""
MAX_ELEMENTS = 50_000
"""Elements in the parsed tree (corpus: p99 2,741, max 10,106)."""
MAX_DEPTH = 200
"""Nesting depth, ``<html>`` being 1 (corpus: p99 31, max 51; libxml2 itself stops nesting at
256 and drops what lies deeper)."""
MAX_CHILDREN = 5_000
"""Children of one element (corpus: p99 221, max 1,125)."""
MAX_IN_PARAGRAPH = 1_000
"""Elements inside one ``<p>`` (corpus: p99 49, max 199)."""
MAX_TEXT_RUNS = 30_000
"""Non-blank text runs (an element's text or tail) in the tree (corpus: p99 1,033, max 6,603)."""

_ELEMENTS = XPath("count(//*)")
_TEXT_RUNS = XPath("count(//text()[normalize-space()])")


def check_markup(html: str, url: str) -> None:
    """Refuse, before parsing, a page with more tags than :data:`MAX_MARKUP` allows.

    Raises:
        PageTooComplex: more than MAX_MARKUP ``<`` characters.
    """
    tags = html.count("<")
    if tags > MAX_MARKUP:
        raise PageTooComplex(_message(f"{tags:,} tags", MAX_MARKUP), url=url)


def check_tree(tree: HtmlElement, url: str) -> None:
    """Refuse a parsed page over any structural limit (elements, depth, width, text runs).

    libxml2 counts (XPath, no Python object an element); the checks that a page's element
    count already rules out are skipped, so a typical page costs well under a millisecond.

    Raises:
        PageTooComplex: the first limit the page passes, with what was found.
    """
    elements = int(_count(_ELEMENTS, tree))
    if elements > MAX_ELEMENTS:
        raise PageTooComplex(_message(f"{elements:,} elements", MAX_ELEMENTS), url=url)
    if elements > MAX_DEPTH and _deeper_than(MAX_DEPTH)(tree):
        raise PageTooComplex(f"elements nested more than {MAX_DEPTH} deep", url=url)
    if elements > MAX_CHILDREN:
        widest = max(tree.iter(), key=len)
        if len(widest) > MAX_CHILDREN:
            found = f"{len(widest):,} children of one <{widest.tag}>"
            raise PageTooComplex(_message(found, MAX_CHILDREN), url=url)
    if elements > MAX_IN_PARAGRAPH:
        for paragraph in tree.iter("p"):
            inside = sum(1 for _ in paragraph.iterdescendants()) if len(paragraph) else 0
            if inside > MAX_IN_PARAGRAPH:
                found = f"{inside:,} elements in one <p>"
                raise PageTooComplex(_message(found, MAX_IN_PARAGRAPH), url=url)
    if 2 * elements + 1 > MAX_TEXT_RUNS:  # one text and one tail an element, at most
        runs = int(_count(_TEXT_RUNS, tree))
        if runs > MAX_TEXT_RUNS:
            raise PageTooComplex(_message(f"{runs:,} text runs", MAX_TEXT_RUNS), url=url)


@cache
def _deeper_than(depth: int) -> XPath:
    """An XPath true when some element is nested deeper than ``depth`` (libxml2 walks it)."""
    return XPath(f"boolean({'/*' * (depth + 1)})")


def _count(xpath: XPath, tree: HtmlElement) -> float:
    result = xpath(tree)
    return result if isinstance(result, float) else 0.0


def _message(found: str, limit: int) -> str:
    return f"{found}, more than the {limit:,} allowed"
