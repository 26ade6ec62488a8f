"""Article extraction from HTML. The only module that imports trafilatura.

The page is parsed once, and only if :mod:`pipeline.article.bounds` finds its markup, then its
tree, within the size and shape of real pages (else PageTooComplex, before any extraction).
:mod:`pipeline.article.metadata` and :mod:`pipeline.article.images` read what it declares about
itself; trafilatura's ``bare_extraction`` (fast precision pass, no comments, no metadata) finds
the main text, as blocks; :mod:`pipeline.article.completion` adds prose paragraphs it skipped
inside the same article container. When that body is short (under twice ``min_words``, or
under a sixth of the page's own paragraph prose or JSON-LD ``articleBody``), the same pass with
trafilatura's fallback comparison, a recall pass and the JSON-LD ``articleBody`` are second
opinions, and the longest one wins (it must be half as long again). Last, the page's lead
paragraph (:mod:`pipeline.article.lead`) is put first when the body lacks it.
"""

from __future__ import annotations

import json
import logging
import re
import time
from copy import deepcopy
from dataclasses import dataclass
from functools import partial
from html import escape
from typing import Literal

import trafilatura
from lxml.etree import _Element
from lxml.html import HtmlElement, tostring
from trafilatura.htmlprocessing import convert_to_html
from trafilatura.settings import Document, Extractor
from trafilatura.utils import load_html
from trafilatura.xml import xmltotxt

from pipeline.article.bounds import check_markup, check_tree
from pipeline.article.completion import missed_paragraphs
from pipeline.article.images import read_figures
from pipeline.article.lead import find_lead
from pipeline.article.metadata import Declared, read_declared
from pipeline.errors import ExtractionFailed, NotAnArticle
from pipeline.models import ExtractorInfo, Image, Page
from pipeline.settings import ExtractSettings

SECOND_OPINION_BUDGET_S = 2.0
"""Second-opinion passes start only while the page has taken less than this (typical pages
take 10-30 ms a pass; hostile ones, seconds: they get one pass, like plain trafilatura)."""
PROSE_SHARE = 0.15
"""A first pass under this share of the page's paragraph words gets a second opinion."""
MAX_ENOUGH = 400
"""A first pass of this many words never gets a second opinion, whatever the page holds."""
EXTRACTOR = ExtractorInfo(name="trafilatura", version=trafilatura.__version__)
BodyFormat = Literal["text", "markdown", "html"]
_WIDE = "\u3040-\u9fff\uac00-\ud7af\uf900-\ufaff"
_WORD = re.compile(f"[{_WIDE}]|[^\\s{_WIDE}]*[^\\W{_WIDE}][^\\s{_WIDE}]*")


@dataclass(frozen=True, slots=True)
class ExtractOptions:
    """trafilatura's option objects (fast precise, thorough precise, recall), built once."""

    precise: Extractor
    thorough: Extractor
    recall: Extractor
    body_format: BodyFormat = "text"
    min_words: int = 30
    """A precise extraction under twice this (before cleaning) gets a second opinion (and
    so does one far shorter than the page's prose: see _enough_words)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Block:
    """One block of the body: a paragraph, heading, list, quote or table."""

    kind: str
    text: str
    markup: str = ""
    """The block as Markdown or HTML when the settings ask for it, else ""."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Extraction:
    """What the extractor found in a page, before cleaning and validation."""

    blocks: tuple[Block, ...]
    declared: Declared
    html_title: str = ""
    byline: str = ""
    images: tuple[Image, ...] = ()
    captions: tuple[str, ...] = ()
    body_source: str = "trafilatura"
    body_format: BodyFormat = "text"

    @property
    def text(self) -> str:
        """The raw body text, blocks separated by blank lines."""
        return "\n\n".join(b.text for b in self.blocks)


class _QuietDiscards(logging.Filter):
    """Drops trafilatura's "discarding data: <url>" warning, logged for every pass that
    finds too little text (several per short page here, as second opinions run); newsflow
    reports a page it cannot use itself (NotAnArticle). Other records pass untouched."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("discarding data")


_QUIET_DISCARDS = _QuietDiscards()


def build_extractor(settings: ExtractSettings) -> ExtractOptions:
    """trafilatura's options objects, built once per process from Settings.

    The first pass is trafilatura's fast one (no readability/jusText comparison: measured,
    it cost a quarter of the time for no gain). Second opinions for a short result, in
    order: the same pass with the fallback comparison, a recall pass, JSON-LD articleBody.
    Also silences trafilatura's per-page "discarding data" warning (see _QuietDiscards).
    """
    core_log = logging.getLogger("trafilatura.core")
    if _QUIET_DISCARDS not in core_log.filters:
        core_log.addFilter(_QUIET_DISCARDS)
    return ExtractOptions(
        precise=Extractor(
            output_format="python",
            fast=True,
            precision=settings.favor_precision,
            comments=False,
            tables=True,
            with_metadata=False,
        ),
        thorough=Extractor(
            output_format="python",
            precision=settings.favor_precision,
            comments=False,
            tables=True,
            with_metadata=False,
        ),
        recall=Extractor(
            output_format="python", recall=True, comments=False, tables=True, with_metadata=False
        ),
        body_format=settings.body_format,
        min_words=settings.min_words,
    )


def extract_document(page: Page, *, options: ExtractOptions) -> Extraction:
    """Extract the main text and the declared metadata of one page.

    Raises:
        ExtractionFailed: the page could not be parsed, or trafilatura raised on it.
        NotAnArticle: no main text was found.
        PageTooComplex: the page has far more tags, elements or nesting than real pages.
    """
    check_markup(page.html, page.url)
    try:
        tree = load_html(page.html)
        if tree is None:
            raise NotAnArticle("page has no HTML tree", url=page.url)
        check_tree(tree, page.url)
        declared = read_declared(tree, page.final_url)
        figures = read_figures(tree, page.final_url)
        _drop_hover_cards(tree)
        blocks, source = _body(tree, page, declared, options)
    except (ValueError, TypeError, AttributeError, RecursionError, MemoryError) as exc:
        raise ExtractionFailed(
            f"extractor error: {type(exc).__name__}: {exc}", url=page.url
        ) from exc
    if not blocks:
        raise NotAnArticle("no main text found", url=page.url)
    return Extraction(
        blocks=blocks,
        declared=declared,
        html_title=_html_title(tree),
        byline=_byline(tree),
        images=figures.images,
        captions=figures.captions,
        body_source=source,
        body_format=options.body_format,
    )


def trafilatura_defaults(html: str, url: str) -> str:
    """trafilatura's ``extract`` with its defaults (comments included): the quality reference,
    as trafilatura's own evaluation runs it."""
    return trafilatura.extract(html, url=url or None) or ""


def trafilatura_json_metadata(html: str, url: str) -> str:
    """trafilatura's own full extraction (JSON with metadata): the throughput reference."""
    out = trafilatura.extract(html, url=url or None, output_format="json", with_metadata=True)
    text = json.loads(out).get("text") if out else ""
    return text if isinstance(text, str) else ""


def count_words(text: str) -> int:
    """Words in ``text`` (white-space separated, with a letter or digit); each CJK, kana or
    hangul character counts as one word."""
    return len(_WORD.findall(text))


def _drop_hover_cards(tree: HtmlElement) -> None:
    """Remove the hidden cards some sites nest in a paragraph after a linked name (a photo,
    the full name, links to more stories): inline markup holding an image and two or more
    links, with no text but theirs. Their text would be glued into the sentence."""
    for card in tree.xpath(_HOVER_CARD)[:50]:
        links = "".join(a.text_content() for a in card.iter("a"))
        if len(card.text_content().strip()) <= len(links) + 3 and card.getparent() is not None:
            card.drop_tree()


_CARD_SHAPE = "(self::span or self::div) and .//img and count(.//a) >= 2"
_HOVER_CARD = f"//p//*[{_CARD_SHAPE}][not(.//*[{_CARD_SHAPE}])]"
"""The innermost inline element of a paragraph with an image and two links or more."""


def _body(
    tree: HtmlElement, page: Page, declared: Declared, options: ExtractOptions
) -> tuple[tuple[Block, ...], str]:
    fmt = options.body_format
    started = time.monotonic()
    best = _complete(tree, _run(tree, page, options.precise, fmt), fmt)
    enough = _enough_words(tree, declared, options.min_words)
    if _words(best) >= enough:
        return _with_lead(tree, best, fmt), "trafilatura"
    source = "trafilatura"
    for make, name in (
        (partial(_run, tree, page, options.thorough, fmt), "trafilatura-full"),
        (partial(_run, tree, page, options.recall, fmt), "trafilatura-recall"),
        (partial(_plain_blocks, declared.body.splitlines(), fmt), "json-ld"),
    ):
        if _words(best) >= enough:
            break
        if time.monotonic() - started > SECOND_OPINION_BUDGET_S and name != "json-ld":
            continue  # a pathological page: no more full passes over it
        candidate = make()
        if _words(candidate) > max(1.5 * _words(best), 1):
            best, source = candidate, name
    return _with_lead(tree, best, fmt), source


def _with_lead(tree: HtmlElement, blocks: tuple[Block, ...], fmt: BodyFormat) -> tuple[Block, ...]:
    """The body with the page's lead paragraph first, when it stands apart above it."""
    lead = find_lead(tree, [b.text for b in blocks])
    return (*_plain_blocks([lead], fmt), *blocks) if lead else blocks


def _enough_words(tree: HtmlElement, declared: Declared, min_words: int) -> int:
    """The body length past which a first pass needs no second opinion: twice ``min_words``,
    or a share of the page's own prose when that is far longer (the words of its paragraphs,
    or of the JSON-LD articleBody), so that a pass that kept 70 words of a 6000-word essay
    gets one too."""
    prose = max(_paragraph_words(tree), count_words(declared.body))
    return max(2 * min_words, min(int(prose * PROSE_SHARE), MAX_ENOUGH))


def _paragraph_words(tree: HtmlElement) -> int:
    """Words directly inside the page's <p> elements (not in their links): a cheap measure
    of how much prose the page has."""
    return count_words(" ".join(tree.xpath("//p/text()")[:20000]))


def _words(blocks: tuple[Block, ...]) -> int:
    return count_words("\n".join(b.text for b in blocks))


def _complete(tree: HtmlElement, blocks: tuple[Block, ...], fmt: BodyFormat) -> tuple[Block, ...]:
    missed = missed_paragraphs(tree, [b.text for b in blocks])
    merged = list(blocks)
    for after, text in reversed(missed):
        block = (
            _list_block(text.splitlines(), fmt) if "\n" in text else _plain_blocks([text], fmt)[0]
        )
        merged.insert(after + 1, block)
    return tuple(merged)


def _list_block(items: list[str], fmt: BodyFormat) -> Block:
    """A list block for list items found without trafilatura (completion)."""
    text = "\n".join(items)
    if fmt == "html":
        return Block(
            kind="list",
            text=text,
            markup="<ul>" + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>",
        )
    return Block(
        kind="list",
        text=text,
        markup="\n".join(f"- {i}" for i in items) if fmt == "markdown" else "",
    )


def _plain_blocks(lines: list[str], fmt: BodyFormat) -> tuple[Block, ...]:
    """Paragraph blocks for text that comes without markup (JSON-LD, completion)."""
    texts = [t for t in (" ".join(line.split()) for line in lines) if t]
    if fmt == "html":
        return tuple(Block(kind="p", text=t, markup=f"<p>{escape(t)}</p>") for t in texts)
    return tuple(Block(kind="p", text=t, markup=t if fmt == "markdown" else "") for t in texts)


def _run(
    tree: HtmlElement, page: Page, options: Extractor, body_format: BodyFormat
) -> tuple[Block, ...]:
    doc = trafilatura.bare_extraction(tree, url=page.final_url, options=options)
    if not isinstance(doc, Document) or doc.body is None:
        return ()
    return tuple(b for b in (_block(child, body_format) for child in doc.body) if b.text)


def _block(element: _Element, body_format: BodyFormat) -> Block:
    kind = str(element.tag)
    text = xmltotxt(element, False).strip()
    if not text or body_format == "text":
        return Block(kind=kind, text=text)
    if body_format == "markdown":
        return Block(kind=kind, text=text, markup=xmltotxt(element, True).strip())
    return Block(kind=kind, text=text, markup=_html(element))


def _html(element: _Element) -> str:
    wrapper = convert_to_html(_wrap(deepcopy(element)))
    body = wrapper[0]
    return "".join(tostring(child, encoding="unicode") for child in body).strip()


def _wrap(element: _Element) -> _Element:
    holder = element.makeelement("body")
    element.tail = None
    holder.append(element)
    return holder


def _html_title(tree: HtmlElement) -> str:
    for xpath in ("//h1", "//title"):
        for node in tree.xpath(xpath)[:1]:
            text = " ".join(node.text_content().split())
            if text:
                return text
    return ""


def _byline(tree: HtmlElement) -> str:
    xpath = (
        "(//*[@rel='author'] | //*[@itemprop='author']"
        " | //*[contains(@class, 'byline') or contains(@class, 'author-name')])[1]"
    )
    for node in tree.xpath(xpath):
        text = " ".join(node.text_content().split())
        if 0 < len(text) <= 120:
            return text
    return ""
