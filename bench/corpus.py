"""The pages of the benches: the scored corpora of ``newsflow bench extract``, and the corpus
pages that ``newsflow bench pipeline`` serves under N distinct URLs.

**Scored corpora** come in two kinds, told apart by their files: a *shingles* corpus (the
article-extraction benchmark's layout: ``ground-truth.json`` with each page's annotated body,
``html/<id>.html.gz``) and a *snippets* corpus (trafilatura's evaluation set: ``evaldata.json``
with each page's "with" and "without" snippets, ``html/<name>.html.gz``). Pages are decoded as
UTF-8 with replacement characters, as both reference scorers do.

**Pipeline copies.** Article ``i`` is corpus page ``i % P`` (P usable pages) in copy ``i // P``.
Copy 0 is the page as saved; in copy ``c > 0`` every word of five or more ASCII letters in the
text nodes (not in tags, entities, scripts or styles) gets a suffix that spells ``c``:
"company" becomes "companyb" in copy 1, "companyba" in copy 26. Markup, stopwords and the word
count stay the same, so extraction costs about the same, while almost every 8-word shingle -
and so the exact fingerprint and the near-duplicate anchors - differs between any two copies:
the dedupe sees N distinct articles and stays enabled. Pages in non-Latin scripts (whose copies
would stay near-duplicates) are left out. Pure: no I/O but reading the corpus.
"""

from __future__ import annotations

import gzip
import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any, Literal, TypeVar

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


CorpusKind = Literal["shingles", "snippets"]
KIND_FILES: dict[CorpusKind, str] = {"shingles": "ground-truth.json", "snippets": "evaldata.json"}
"""The annotation file that makes a folder (with ``html/*.html.gz``) a corpus of each kind."""
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True, kw_only=True)
class Doc:
    """One scored page: its decoded HTML and what it is scored against.

    A shingles page has the annotated body (``truth``); a snippets page has the snippets that
    must be in the text (``present``) and those that must not (``absent``).
    """

    doc_id: str
    url: str
    html: str
    truth: str = ""
    present: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ScoredCorpus:
    """The pages of one scored corpus, named after its folder."""

    name: str
    kind: CorpusKind
    docs: tuple[Doc, ...]


def corpus_kind(folder: Path) -> CorpusKind | None:
    """The kind of scored corpus in ``folder``, or None when it holds none."""
    if not any((folder / "html").glob("*.html.gz")):
        return None
    for kind, name in KIND_FILES.items():
        if (folder / name).is_file():
            return kind
    return None


def load_scored(folder: Path, *, sample: int | None = None) -> ScoredCorpus:
    """The pages of the scored corpus in ``folder``: all, or ``sample`` spread evenly.

    Raises:
        ValueError: the folder holds no scored corpus (see :func:`corpus_kind`).
        OSError, gzip.BadGzipFile: a file cannot be read.
    """
    kind = corpus_kind(folder)
    if kind is None:
        raise ValueError(f"{folder} is not a scored corpus")
    annotations = json.loads((folder / KIND_FILES[kind]).read_text(encoding="utf-8"))
    entries = sorted(
        _shingles_entries(annotations) if kind == "shingles" else _snippets_entries(annotations),
        key=lambda entry: entry[0],
    )
    docs = tuple(_doc(folder, *entry) for entry in spread_sample(entries, sample))
    return ScoredCorpus(name=folder.resolve().name, kind=kind, docs=docs)


def spread_sample(items: Sequence[_T], size: int | None) -> list[_T]:
    """``size`` items spread evenly over ``items`` (all of them when ``size`` is None or more)."""
    if size is None or size >= len(items):
        return list(items)
    return [items[i * len(items) // size] for i in range(size)]


Entry = tuple[str, str, dict[str, Any]]
"""(page name, URL, annotation fields) of one scored page."""


def _shingles_entries(truth: dict[str, dict[str, Any]]) -> list[Entry]:
    return [(doc_id, meta.get("url") or "", meta) for doc_id, meta in truth.items()]


def _snippets_entries(evaldata: dict[str, dict[str, Any]]) -> list[Entry]:
    """Pages are keyed by URL, or by a label ("hard::site-page.html") that is not one."""
    return [
        (rec["file"].removesuffix(".html.gz"), key if key.startswith(_HTTP) else "", rec)
        for key, rec in evaldata.items()
    ]


_HTTP = ("http://", "https://")


def _doc(folder: Path, name: str, url: str, meta: dict[str, Any]) -> Doc:
    raw = gzip.decompress((folder / "html" / f"{name}.html.gz").read_bytes())
    return Doc(
        doc_id=name,
        url=url,
        html=raw.decode("utf-8", errors="replace"),
        truth=meta.get("articleBody") or "",
        present=tuple(meta.get("with") or ()),
        absent=tuple(meta.get("without") or ()),
    )
