"""The pages of ``newsflow bench pipeline``: corpus pages served under N distinct URLs.

Article ``i`` is corpus page ``i % P`` (P usable pages) in copy ``i // P``. Copy 0 is the
page as saved; in copy ``c > 0`` every word of five or more ASCII letters in the text nodes
(not in tags, entities, scripts or styles) gets a suffix that spells ``c``: "company" becomes
"companyb" in copy 1, "companyba" in copy 26. Markup, stopwords and the word count stay the
same, so extraction costs about the same, while almost every 8-word shingle - and so the
exact fingerprint and the near-duplicate anchors - differs between any two copies: the dedupe
sees N distinct articles and stays enabled. Pages in non-Latin scripts (whose copies would
stay near-duplicates) are left out. Pure: no I/O but reading the corpus.
"""

from __future__ import annotations

import gzip
import itertools
import re
from dataclasses import dataclass
from html import escape
from pathlib import Path

_MARKUP = re.compile(
    r"(<script\b.*?</script\s*>|<style\b.*?</style\s*>|<!--.*?-->|<[^>]*>|&#?\w+;)",
    re.S | re.I,
)
_SEP = "\x00"
_WORD = re.compile(r"\w+")
_LONG_WORD = re.compile(r"\b[A-Za-z]{5,}\b")
MIN_CHANGED_WORDS = 0.2
"""Pages where copies would change fewer words than this share are left out."""
EXCLUDED = frozenset(
    {
        # fewer than min_words (30) words of body: their entries would be dropped, not published
        "85439e26c41c75901820d01a13e8cea7836abb58635ea3986f71a163ab0311d3",
        "f8ff621a0b9b7646cc0d57d37416feabba2bf78ef5dd0bfc5b080f9f97bbe584",
    }
)


@dataclass(frozen=True, slots=True)
class CorpusPage:
    """One saved page split into text runs and the markup between them."""

    doc_id: str
    texts: tuple[str, ...]
    markup: tuple[str, ...]


def load_corpus(corpus: Path) -> tuple[CorpusPage, ...]:
    """The usable pages of the benchmark corpus, in a stable order."""
    pages = []
    for path in sorted((corpus / "html").glob("*.html.gz")):
        doc_id = path.name.removesuffix(".html.gz")
        if doc_id in EXCLUDED:
            continue
        html = gzip.decompress(path.read_bytes()).decode("utf-8", "replace")
        parts = _MARKUP.split(html.replace(_SEP, ""))
        page = CorpusPage(doc_id, tuple(parts[0::2]), tuple(parts[1::2]))
        if _changeable_share(page) >= MIN_CHANGED_WORDS:
            pages.append(page)
    return tuple(pages)


def _changeable_share(page: CorpusPage) -> float:
    """The share of words that a copy changes (few in non-Latin scripts)."""
    text = " ".join(page.texts)
    return len(_LONG_WORD.findall(text)) / max(1, len(_WORD.findall(text)))


def copy_suffix(copy: int) -> str:
    """The letters appended to long words in copy ``copy`` (base 26, a = 0): b, c, ..., ba."""
    letters = ""
    while copy:
        copy, digit = divmod(copy, 26)
        letters = chr(ord("a") + digit) + letters
    return letters


def page_html(pages: tuple[CorpusPage, ...], index: int) -> bytes:
    """The HTML (UTF-8) of article ``index``: its corpus page with its copy's suffix."""
    page = pages[index % len(pages)]
    copy = index // len(pages)
    texts = page.texts
    if copy:
        template = r"\g<0>" + copy_suffix(copy)
        texts = tuple(_LONG_WORD.sub(template, _SEP.join(page.texts)).split(_SEP))
    merged = itertools.chain.from_iterable(itertools.zip_longest(texts, page.markup, fillvalue=""))
    return "".join(merged).encode("utf-8")


def article_path(index: int) -> str:
    """The URL path of article ``index`` on the replay site."""
    return f"/news/{index:06d}"


def feed_path(feed: int) -> str:
    """The URL path of feed number ``feed`` on the replay site."""
    return f"/feeds/{feed:03d}.xml"


def feed_of(index: int, feeds: int) -> int:
    """The feed that lists article ``index`` (round robin)."""
    return index % feeds


def rss(base_url: str, feed: int, indexes: list[int]) -> bytes:
    """An RSS 2.0 document listing the given articles, newest first."""
    items = "".join(
        f"<item><title>Bench article {i}</title>"
        f"<link>{escape(base_url + article_path(i))}</link>"
        f"<guid>{escape(base_url + article_path(i))}</guid></item>"
        for i in reversed(indexes)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Bench feed {feed}</title><link>{escape(base_url)}/</link>"
        f"<description>newsflow bench</description>{items}</channel></rss>"
    ).encode()
