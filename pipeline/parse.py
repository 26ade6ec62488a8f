"""From an extraction to a clean Article: pure functions, no I/O.

Cleaning removes what extractors leave in the body of real news pages: the headline echoed
at the top, repeated paragraphs and photo captions, UI tokens and share counters.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from urllib.parse import urlsplit

from pipeline.dedupe import trusted_canonical, url_id
from pipeline.errors import NotAnArticle
from pipeline.extract import EXTRACTOR, Extraction
from pipeline.models import Article, FeedEntry, Page, Source

_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_UI_TOKENS = {
    "tt",
    "share",
    "tweet",
    "email",
    "print",
    "comment",
    "comments",
    "advertisement",
    "read more",
    "more",
    "subscribe",
    "follow",
    "copy link",
    "whatsapp",
    "facebook",
    "twitter",
    "linkedin",
    "reddit",
    "close",
    "menu",
    "save",
    "listen",
    "a a",
    "aa",
}
_COUNTER = re.compile(r"^\d+\s*(comments?|shares?|views?)?$", re.I)
_AUTHOR_SPLIT = re.compile(r"\s*(?:;|,|\band\b|&|\bund\b|\by\b|\bet\b)\s*", re.I)
_BY_PREFIX = re.compile(r"^(by|von|par|por|di)\s+", re.I)
_TEASER = re.compile(
    r"^(read more|read also|also read|related|see also|more on this)\s*[:|»>-]", re.I
)
_HTML_LANG = re.compile(r"<html[^>]*\slang=[\"']?([a-zA-Z]{2,3})(?:[-_][a-zA-Z0-9]+)?", re.I)


def parse_article(
    extraction: Extraction, page: Page, entry: FeedEntry, *, min_words: int
) -> Article:
    """Build the clean Article for a page, filling gaps from the feed entry.

    Raises:
        NotAnArticle: the cleaned body has fewer than ``min_words`` words.
    """
    title = clean_line(extraction.title) or clean_line(entry.title)
    text = clean_body(extraction.text, title=title, captions=extraction.captions)
    words = len(text.split())
    if words < min_words:
        raise NotAnArticle(f"body has {words} words, fewer than {min_words}", url=page.url)
    canonical = trusted_canonical(extraction.canonical_url, page.final_url)
    return Article(
        id=url_id(canonical),
        url=page.final_url,
        canonical_url=canonical,
        feed_url=entry.feed_url,
        source=Source(
            name=clean_line(extraction.sitename) or _domain(canonical), domain=_domain(canonical)
        ),
        title=title,
        authors=parse_authors(extraction.authors) or entry.authors,
        published_at=parse_datetime(extraction.date) or parse_datetime(entry.published_at),
        language=extraction.language or declared_language(page.html),
        description=clean_line(extraction.description) or clean_line(entry.summary)[:500],
        text=text,
        word_count=words,
        fetched_at=page.fetched_at,
        extractor=EXTRACTOR,
    )


def clean_line(text: str | None) -> str:
    """Normalise Unicode (NFC), drop invisible characters and collapse white space."""
    if not text:
        return ""
    text = unicodedata.normalize("NFC", text).translate(_INVISIBLE)
    return _SPACES.sub(" ", text).strip()


def clean_body(text: str, *, title: str, captions: tuple[str, ...] = ()) -> str:
    """Clean body text into paragraphs separated by a blank line.

    Drops headline echoes, photo captions (with their credits), UI tokens and counters,
    and every paragraph already seen earlier in the body.
    """
    kept: list[str] = []
    skip = {_key(title)} | {_key(c) for c in captions}
    for raw in text.splitlines():
        line = clean_line(raw)
        key = _key(line)
        if not key or key in skip or _is_ui_token(line):
            continue
        skip.add(key)
        kept.append(line)
    return "\n\n".join(kept)


def declared_language(html: str) -> str | None:
    """The language the page declares on its <html> element (ISO 639 code), if any."""
    match = _HTML_LANG.search(html[:5000])
    return match.group(1).lower() if match else None


def _key(line: str) -> str:
    return " ".join(re.findall(r"\w+", line.casefold()))


def _is_ui_token(line: str) -> bool:
    folded = line.casefold().strip(" .:|•·-–—")
    if folded in _UI_TOKENS or _COUNTER.match(folded):
        return True
    return bool(_TEASER.match(line)) and len(line.split()) <= 20


def parse_authors(value: str) -> tuple[str, ...]:
    """Split a byline into clean names: "By Jane Doe and John Roe" -> two names."""
    names: list[str] = []
    for part in _AUTHOR_SPLIT.split(clean_line(value)):
        name = _BY_PREFIX.sub("", part).strip(" .,;:")
        if name and len(name) <= 80 and name not in names:
            names.append(name)
    return tuple(names)


def parse_datetime(value: str | None) -> datetime | None:
    """Parse an ISO 8601 date or datetime into an aware UTC datetime (naive = UTC)."""
    if not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    if re.fullmatch(r".*[+-]\d{4}", text):
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _domain(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    return host[4:] if host.startswith("www.") else host
