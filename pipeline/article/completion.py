"""Second opinion on the body: prose paragraphs the extractor skipped inside the article.

Many sites split the article body into several containers with the same class (around
ads or embeds), and extractors tend to keep the first one only. Here the container of the
extracted paragraphs is found in the page, and the prose paragraphs in it and in its
same-class siblings that the extraction lacks are returned with their place.
"""

from __future__ import annotations

import re
from collections import Counter

from lxml.html import HtmlElement

MIN_WORDS = 15
MAX_CHUNKS = 20
MAX_HEADING_WORDS = 15
_HEADINGS = ("h2", "h3", "h4")
_LISTS = ("ul", "ol")
_BETWEEN_TAGS = (*_HEADINGS, *_LISTS)
"""Subheadings and lists are added only between two paragraphs the extraction kept."""
_SENTENCE_END = tuple('.!?…"”’»)')
_NOISY_CLASS = re.compile(
    r"caption|credit|related|promo|newsletter|byline|author|share|social|disclaimer|copyright"
    r"|subscribe|signup|footer|comment|meta|tag",
    re.I,
)

_COMMENTS = re.compile(
    r"\b(comment|coment|komment)\w*\b[^.]*\b(moderat|approv|aprova|guideline|polic|richtlinie"
    r"|rules|regeln|closed|geschlossen|fechad|encerrad|disabled)"
    r"|\b(leave|post|add|write|submit) a comment|\bkommentar (schreiben|verfassen)",
    re.I,
)
"""Text about the reader comments below the article (a policy, a form), not news that
quotes someone's comments or says they "declined to comment"."""


def missed_paragraphs(tree: HtmlElement, texts: list[str]) -> list[tuple[int, str]]:
    """Prose paragraphs of the article container missing from ``texts``.

    Returns (index of the extracted paragraph they follow, text) pairs, in page order.
    """
    index = {k: i for i, t in enumerate(texts) for k in _keys(t)}
    matched = [
        (p, i)
        for p in tree.xpath("//p[string-length(normalize-space()) > 20]")[:3000]
        if (i := _find(index, p)) is not None
    ]
    parents = Counter(p.getparent() for p, _ in matched)
    if not parents:
        return []
    container, count = parents.most_common(1)[0]
    if count < 2 or container is None:
        return []
    seen = _shingles(" ".join(texts))
    found: list[tuple[int, str]] = []
    last = -1
    for chunk in _chunks(tree, container):
        between: list[tuple[int, str]] = []
        for p in chunk.iterchildren("p", *_BETWEEN_TAGS):
            at = _find(index, p) if p.tag == "p" else None
            if at is not None:
                last = at
                found += between
                between = []
                continue
            text = _list_text(p) if p.tag in _LISTS else _text(p)
            if last < 0 or not _is_new(text, seen):
                continue
            if p.tag == "p" and _is_prose(p):
                found.append((last, text))
            elif p.tag != "p" and _is_heading_or_list(p):
                between.append((last, text))
    return found


def _chunks(tree: HtmlElement, container: HtmlElement) -> list[HtmlElement]:
    cls = container.get("class") or ""
    if not cls.strip():
        return [container]
    same = tree.xpath("//*[@class=$cls]", cls=cls)[:MAX_CHUNKS]
    return [c for c in same if c.tag == container.tag] or [container]


def _is_prose(p: HtmlElement) -> bool:
    text = _text(p)
    if len(text.split()) < MIN_WORDS or not text.endswith(_SENTENCE_END):
        return False
    if _NOISY_CLASS.search(p.get("class") or "") or _COMMENTS.search(text):
        return False
    linked = sum(len(" ".join(a.text_content().split())) for a in p.iter("a"))
    return linked < 0.3 * len(text)


def _is_heading_or_list(element: HtmlElement) -> bool:
    """A subheading (a few words) or a list of text (not of links) of the article."""
    text = _text(element)
    if not text or _NOISY_CLASS.search(element.get("class") or ""):
        return False
    linked = sum(len(" ".join(a.text_content().split())) for a in element.iter("a"))
    if linked >= 0.3 * len(text):
        return False
    return len(text.split()) <= MAX_HEADING_WORDS if element.tag in _HEADINGS else True


def _list_text(element: HtmlElement) -> str:
    items = (" ".join(li.text_content().split()) for li in element.iter("li"))
    return "\n".join(i for i in items if i)


def _is_new(text: str, seen: set[int]) -> bool:
    """True when most of the text is not in the extraction already."""
    shingles = _shingles(text)
    return bool(shingles) and len(shingles & seen) < 0.2 * len(shingles)


def _shingles(text: str) -> set[int]:
    words = re.findall(r"[^\W_]+", text.casefold())
    return {hash(tuple(words[i : i + 4])) for i in range(max(0, len(words) - 3))}


def _text(p: HtmlElement) -> str:
    return " ".join(p.text_content().split())


def _keys(text: str) -> tuple[str, ...]:
    """Keys of a paragraph: its first and its last eight words (links may drop words)."""
    words = re.findall(r"[^\W_]+", text.casefold())
    if not words:
        return ()
    return (" ".join(words[:8]), "$" + " ".join(words[-8:]))


def _find(index: dict[str, int], p: HtmlElement) -> int | None:
    for key in _keys(_text(p)):
        if key in index:
            return index[key]
    return None
