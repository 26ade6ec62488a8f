"""Feed parsing: bytes in, entries out. The only module that imports feedparser.

feedparser is given a file object, never a string or bytes: it opens a string as a URL or a
local path, and bytes as a local path (``b"/dev/zero"`` would be read forever).
JSON Feed, which feedparser 6 does not read, has a small parser here.
"""

from __future__ import annotations

import dataclasses
import io
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from pipeline.errors import FeedError
from pipeline.models import FeedEntry
from pipeline.polling.cadence import feed_period_s

MAX_URL_LENGTH = 2048
_UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedFeed:
    """The entries of one feed document plus what was wrong with it, if anything."""

    title: str
    entries: tuple[FeedEntry, ...]
    skipped: int
    warning: str = ""
    period_s: float | None = None
    """How often the feed says it changes (RSS ``<ttl>``, ``sy:updatePeriod``), if it does."""


def parse_feed(body: bytes, feed_url: str, *, max_entries: int = 500) -> ParsedFeed:
    """Parse RSS, Atom or JSON Feed bytes into entries with absolute http(s) links.

    Entries without a usable link are counted in ``skipped``; at most ``max_entries`` are kept.

    Raises:
        FeedError: the bytes are not a feed at all (HTML page, empty, unparseable).
    """
    if not isinstance(body, bytes):
        raise TypeError("parse_feed takes bytes, never a path or URL string")
    if not body.strip():
        raise FeedError("empty feed document", url=feed_url)
    if body.removeprefix(_UTF8_BOM).lstrip()[:1] == b"{":
        return _parse_json_feed(body, feed_url, max_entries)
    return _parse_xml_feed(body, feed_url, max_entries)


def _parse_xml_feed(body: bytes, feed_url: str, max_entries: int) -> ParsedFeed:
    parsed = feedparser.parse(io.BytesIO(body))
    version = parsed.get("version") or ""
    if not version and not parsed.entries:
        problem = parsed.get("bozo_exception") or "no RSS/Atom structure found"
        raise FeedError(f"not a feed: {problem}", url=feed_url)
    raw = [_entry_from_feedparser(e, feed_url) for e in parsed.entries]
    warning = f"malformed feed: {parsed.get('bozo_exception')}" if parsed.get("bozo") else ""
    feed = parsed.feed
    collected = _collect(str(feed.get("title", "")), raw, max_entries, warning)
    period_s = feed_period_s(
        str(feed.get("ttl", "")),
        str(feed.get("sy_updateperiod", "")),
        str(feed.get("sy_updatefrequency", "")),
    )
    return dataclasses.replace(collected, period_s=period_s)


def _entry_from_feedparser(entry: Any, feed_url: str) -> FeedEntry | None:
    link = _absolute_http_url(entry.get("link") or _alternate_link(entry), feed_url)
    if link is None:
        return None
    authors = tuple(a.get("name", "") for a in entry.get("authors", []) if a.get("name"))
    if not authors and entry.get("author"):
        authors = (str(entry["author"]),)
    return FeedEntry(
        url=link,
        feed_url=feed_url,
        title=str(entry.get("title", "")).strip(),
        published_at=_struct_time_iso(_entry_time(entry)),
        updated_at=_struct_time_iso(_modified_time(entry)),
        authors=authors,
        summary=str(entry.get("summary", "")).strip(),
        guid=str(entry.get("id") or "").strip()[:MAX_URL_LENGTH],
    )


def _entry_time(entry: Any) -> time.struct_time | None:
    # dict.get: feedparser's own get() warns (DeprecationWarning) when it falls back from
    # updated_parsed to published_parsed, which happens for every unparseable pubDate.
    value = dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed")
    return value if isinstance(value, time.struct_time) else None


def _modified_time(entry: Any) -> time.struct_time | None:
    value = dict.get(entry, "updated_parsed")
    return value if isinstance(value, time.struct_time) else None


def _alternate_link(entry: Any) -> str:
    for link in entry.get("links", []):
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return str(link["href"])
    return ""


def _parse_json_feed(body: bytes, feed_url: str, max_entries: int) -> ParsedFeed:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise FeedError(f"invalid JSON feed: {exc}", url=feed_url) from exc
    if not isinstance(doc, dict) or "jsonfeed.org" not in str(doc.get("version", "")):
        raise FeedError("JSON document is not a JSON Feed", url=feed_url)
    items: list[Any] = doc["items"] if isinstance(doc.get("items"), list) else []
    raw = [_entry_from_json(item, feed_url) for item in items if isinstance(item, dict)]
    skipped_shapes = len(items) - len(raw)
    parsed = _collect(str(doc.get("title", "")), raw, max_entries, "")
    return ParsedFeed(
        title=parsed.title,
        entries=parsed.entries,
        skipped=parsed.skipped + skipped_shapes,
        warning=parsed.warning,
    )


def _entry_from_json(item: dict[str, Any], feed_url: str) -> FeedEntry | None:
    link = _absolute_http_url(_text(item.get("url")) or _text(item.get("external_url")), feed_url)
    if link is None:
        return None
    return FeedEntry(
        url=link,
        feed_url=feed_url,
        title=_text(item.get("title")).strip(),
        published_at=_iso_or_none(item.get("date_published") or item.get("date_modified")),
        updated_at=_iso_or_none(item.get("date_modified")),
        authors=_json_authors(item),
        summary=_text(item.get("summary")).strip(),
        guid=_json_id(item.get("id")),
    )


def _json_id(value: Any) -> str:
    """A JSON Feed item's ``id`` (a string by the spec; numbers are seen in the wild)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return ""
    return str(value).strip()[:MAX_URL_LENGTH]


def _json_authors(item: dict[str, Any]) -> tuple[str, ...]:
    """``authors`` (JSON Feed 1.1) or ``author`` (1.0); anything not shaped right is ignored."""
    raw = item.get("authors") or item.get("author")
    candidates = raw if isinstance(raw, list) else [raw]
    return tuple(
        _text(a.get("name")) for a in candidates if isinstance(a, dict) and _text(a.get("name"))
    )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _collect(title: str, raw: list[FeedEntry | None], max_entries: int, warning: str) -> ParsedFeed:
    entries = [e for e in raw if e is not None]
    skipped = len(raw) - len(entries) + max(0, len(entries) - max_entries)
    if len(entries) > max_entries:
        capped = f"capped at {max_entries} of {len(entries)} entries (max_entries_per_poll)"
        warning = f"{warning}; {capped}" if warning else capped
    return ParsedFeed(
        title=title, entries=tuple(entries[:max_entries]), skipped=skipped, warning=warning
    )


def _absolute_http_url(link: str, base: str) -> str | None:
    link = link.strip()
    if not link or len(link) > MAX_URL_LENGTH:
        return None
    absolute = urljoin(base, link)
    parts = urlsplit(absolute)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return absolute


def _struct_time_iso(value: time.struct_time | None) -> str | None:
    if value is None:
        return None
    try:
        return datetime(*value[:6], tzinfo=UTC).isoformat()
    except (TypeError, ValueError):
        return None


def _iso_or_none(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat()
