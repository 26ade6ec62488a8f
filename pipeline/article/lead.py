"""The article's lead (standfirst, intro, deck): a short paragraph that sites set apart above
the body, in its own container, where main-text extractors tend to skip it.

A lead is found by what the page calls it (a class or id naming a lead, intro, teaser,
standfirst, deck, excerpt, abstract, summary or subtitle, in the languages of the sites), by
where it is (before the first paragraph of the extracted body, outside navigation, asides,
footers and links) and by what it is (one piece of prose, not a list of teasers: its class is
not repeated down the page). It is returned only when the body lacks it.
"""

from __future__ import annotations

import re

from lxml import etree
from lxml.html import HtmlElement

LEAD_MIN_WORDS = 8
LEAD_MAX_WORDS = 150
LEAD_MIN_SENTENCES = 3
"""A lead is a paragraph of prose; a one- or two-sentence subtitle (a dek) is not body."""
MAX_SAME_CLASS = 2
"""A class worn by more elements than this is a list of teasers, not the article's lead."""
MAX_CANDIDATES = 200
_LEAD_NAMES = frozenset(
    {
        "lead",
        "leadin",
        "intro",
        "introduction",
        "teaser",
        "standfirst",
        "deck",
        "dek",
        "excerpt",
        "abstract",
        "summary",
        "subheadline",
        "subtitle",
        "chapo",
        "chapeau",
        "sapo",
        "entradilla",
        "bajada",
        "preface",
        "vorspann",
        "einleitung",
    }
)
_NOT_LEAD = frozenset(
    {
        "related",
        "list",
        "item",
        "items",
        "card",
        "nav",
        "menu",
        "footer",
        "sidebar",
        "widget",
        "banner",
        "cookie",
        "consent",
        "modal",
        "popup",
        "overlay",
    }
)
_OUTSIDE = "ancestor-or-self::*[self::nav or self::aside or self::footer or self::a or self::form]"
_ENDS = tuple(".!?…。\"'”’»)")
_TOKEN = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")
_WORDS = re.compile(r"[^\W_]+")


def find_lead(tree: HtmlElement, texts: list[str]) -> str:
    """The page's lead paragraph, when it stands before the body in ``texts`` and is not
    in it; else ""."""
    names = _lead_names(tree) if texts else set()
    start = _body_start(tree, texts[0]) if names else None
    if start is None:
        return ""
    seen: set[tuple[str, ...]] | None = None
    for element in _named_before(tree, start, names):
        text = _shown_text(element)
        if not _is_lead(element, text, tree):
            continue
        seen = _shingles(" ".join(texts)) if seen is None else seen
        if _is_new(text, seen):
            return text
    return ""


def _lead_names(tree: HtmlElement) -> set[str]:
    """The class and id values of the page that hold a lead name somewhere."""
    joined = "\n".join(_CLASSES_AND_IDS(tree))
    folded = joined.lower()
    same = len(folded) == len(joined)  # lower() kept every offset (ASCII: always)
    matches = _STEMS.finditer(folded) if same else _STEMS_ANY_CASE.finditer(joined)
    names = set()
    for match in matches:  # one regex pass over every class and id of the page
        begin = joined.rfind("\n", 0, match.start()) + 1
        end = joined.find("\n", match.end())
        names.add(joined[begin : end if end >= 0 else len(joined)])
    return names


_CLASSES_AND_IDS = etree.XPath("//@class | //@id", smart_strings=False)


def _named_before(tree: HtmlElement, start: HtmlElement, names: set[str]) -> list[HtmlElement]:
    """The elements named like a lead before ``start``, in page order (a holder before
    what it holds), at most MAX_CANDIDATES."""
    found: list[HtmlElement] = []
    for element in tree.iter():
        if element is start or len(found) >= MAX_CANDIDATES:
            break
        named = element.get("class") in names or element.get("id") in names
        if named and _named_lead(element):
            found.append(element)
    return found


_STEMS = re.compile(
    "lead|intro|teaser|standfirst|dek|excerpt|abstract|summary|subheadline|subtitle|chap|sapo"
    "|entradilla|bajada|preface|vorspann|einleitung"
)
_STEMS_ANY_CASE = re.compile(_STEMS.pattern, re.I)
"""A quick look for a lead name in a class or id; the tokens are checked after."""


def _named_lead(element: HtmlElement) -> bool:
    tokens = {
        t.lower() for t in _TOKEN.findall(f"{element.get('class', '')} {element.get('id', '')}")
    }
    return bool(tokens & _LEAD_NAMES) and not tokens & _NOT_LEAD


def _shown_text(element: HtmlElement) -> str:
    return " ".join(" ".join(element.xpath(_SHOWN_TEXT)).split())


_SHOWN_TEXT = ".//text()[not(ancestor::script or ancestor::style or ancestor::noscript)]"


def _is_lead(element: HtmlElement, text: str, tree: HtmlElement) -> bool:
    words = len(text.split())
    if not LEAD_MIN_WORDS <= words <= LEAD_MAX_WORDS or element.xpath(_OUTSIDE):
        return False
    if not text.endswith(_ENDS) or sentences(text) < LEAD_MIN_SENTENCES:
        return False
    linked = sum(len(" ".join(a.text_content().split())) for a in element.iter("a"))
    if linked > 0.3 * len(text):
        return False
    cls = element.get("class")
    return not cls or len(tree.xpath("//*[@class=$c]", c=cls)) <= MAX_SAME_CLASS


def sentences(text: str) -> int:
    """Sentences of SENTENCE_MIN_WORDS words or more in ``text``, each ended by a full stop,
    question or exclamation mark after a word of three letters or more (not an initial,
    "Jr." or "No. 10"), at the end of the text or before white space."""
    count, start = 0, 0
    for match in _SENTENCE_END.finditer(text):
        if len(match.group(1)) < 3 and match.group(2) != "。":
            continue
        if match.group(2) == "。" or len(text[start : match.end()].split()) >= SENTENCE_MIN_WORDS:
            count += 1
        start = match.end()
    return count


SENTENCE_MIN_WORDS = 4


_SENTENCE_END = re.compile(r"(\w+)([.!?…。]+)[\"'”’»)]*(?=\s|$)")


def _body_start(tree: HtmlElement, first: str) -> HtmlElement | None:
    """The element holding the start of the body's first block."""
    words = first.split()[:5]
    if not words:
        return None
    probe = " ".join(words)[:40]
    for node in tree.xpath("//text()[contains(normalize-space(.), $p)]", p=probe)[:1]:
        parent = node.getparent()
        return parent if parent is not None else None
    return None


def _is_new(text: str, seen: set[tuple[str, ...]]) -> bool:
    shingles = _shingles(text)
    return bool(shingles) and len(shingles & seen) < 0.5 * len(shingles)


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = _WORDS.findall(text.casefold())
    return {tuple(words[i : i + 4]) for i in range(max(0, len(words) - 3))}
