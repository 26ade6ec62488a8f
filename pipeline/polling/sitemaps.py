"""XML sitemaps, sitemap indexes and Google News sitemaps: bytes in, entries out. Pure.

Parsed with lxml without DTDs, entities or network; gzipped sitemaps are inflated with a cap.
"""

from __future__ import annotations

import gzip
import io
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree

from pipeline.errors import FeedError
from pipeline.models import FeedEntry
from pipeline.polling.feeds import MAX_URL_LENGTH, ParsedFeed

_NEWS = "{http://www.google.com/schemas/sitemap-news/0.9}"
_MAX_INFLATED = 50 * 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class Sitemap:
    """A sitemap's article entries, or (for an index) the sitemaps it lists."""

    feed: ParsedFeed
    children: tuple[str, ...]


def is_sitemap(body: bytes) -> bool:
    """True for an XML sitemap or sitemap index (gzipped or not)."""
    head = _inflate(body)[:4096] if body[:2] == b"\x1f\x8b" else body[:4096]
    return b"<urlset" in head or b"<sitemapindex" in head


def parse_sitemap(
    body: bytes, url: str, *, max_entries: int, news_max_age_s: float, now: float | None = None
) -> Sitemap:
    """Entries of a ``urlset`` (news entries older than ``news_max_age_s`` skipped), or the
    child sitemaps of a ``sitemapindex``.

    Raises:
        FeedError: not a well-formed sitemap, or larger than 50 MB inflated.
    """
    if body[:2] == b"\x1f\x8b":
        body = _inflate(body)
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = etree.fromstring(body, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise FeedError(f"invalid sitemap: {exc}", url=url) from exc
    locs = [(node, _text(node, "loc")) for node in root if isinstance(node.tag, str)]
    if etree.QName(root).localname == "sitemapindex":
        children = tuple(loc for _, loc in locs if _is_http(loc))[:max_entries]
        return Sitemap(feed=ParsedFeed(title="", entries=(), skipped=0), children=children)
    cutoff = (now or time.time()) - news_max_age_s
    entries: list[FeedEntry] = []
    skipped = 0
    for node, loc in locs:
        entry = _entry(node, loc, url, cutoff)
        if entry is None:
            skipped += 1
        elif len(entries) < max_entries:
            entries.append(entry)
        else:
            skipped += 1
    return Sitemap(feed=ParsedFeed(title="", entries=tuple(entries), skipped=skipped), children=())


def _entry(node: etree._Element, loc: str, sitemap_url: str, cutoff: float) -> FeedEntry | None:
    if not _is_http(loc):
        return None
    news = node.find(f"{_NEWS}news")
    published = _when(_text(news, f"{_NEWS}publication_date")) if news is not None else None
    if published is not None and published.timestamp() < cutoff:
        return None
    modified = _when(_text(node, "lastmod"))
    return FeedEntry(
        url=loc,
        feed_url=sitemap_url,
        title=_text(news, f"{_NEWS}title") if news is not None else "",
        published_at=published.isoformat() if published else None,
        updated_at=modified.isoformat() if modified else None,
    )


def _text(node: etree._Element | None, name: str) -> str:
    if node is None:
        return ""
    for child in node:
        if isinstance(child.tag, str) and (
            child.tag == name or etree.QName(child).localname == name
        ):
            return (child.text or "").strip()
    return ""


def _when(text: str) -> datetime | None:
    """A W3C datetime (date, or date and time; naive means UTC) in UTC, or None."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _is_http(url: str) -> bool:
    return url.startswith(("http://", "https://")) and len(url) <= MAX_URL_LENGTH


def _inflate(body: bytes) -> bytes:
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(body)) as stream:
            data = stream.read(_MAX_INFLATED + 1)
    except (OSError, EOFError) as exc:
        raise FeedError(f"invalid gzipped sitemap: {exc}") from exc
    if len(data) > _MAX_INFLATED:
        raise FeedError("sitemap over 50 MB once inflated")
    return data
