"""Feed parsing: bytes in, entries out. The only module that imports feedparser.

feedparser is given a file object, never a string or bytes: it opens a string as a URL or a
local path, and bytes as a local path (``b"/dev/zero"`` would be read forever).
JSON Feed, which feedparser 6 does not read, has a small parser here.

Hostile documents end as a :class:`FeedError` or as skipped entries, never as another
exception: numeric character references to no character (``&#xD800;``, ``&#x110000;``), which
crash feedparser's fallback parser, are replaced before it sees them; lone surrogates (JSON
``"\\ud800"``) are replaced in every text kept; dates out of range are no date; a link that does
not parse (``http://[::1/a``, a bad port) is skipped like any unusable link.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from pipeline.article.sanitize import as_uri
from pipeline.errors import FeedError
from pipeline.models import FeedEntry
from pipeline.polling.cadence import feed_period_s

MAX_URL_LENGTH = 2048
_UTF8_BOM = b"\xef\xbb\xbf"
_CHAR_REF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));")
_CHAR_REF_TEXT = re.compile(r"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));")
_REPLACEMENT_REF = "&#xFFFD;"


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedFeed:
    """The entries of one feed document plus what was wrong with it, if anything."""

    title: str
    entries: tuple[FeedEntry, ...]
    skipped: int
    warning: str = ""
    period_s: float | None = None
    """How often the feed says it changes (RSS ``<ttl>``, ``sy:updatePeriod``), if it does."""
    hubs: tuple[str, ...] = ()
    """WebSub hubs the document declares (``<link rel="hub">``, JSON Feed ``hubs``)."""
    self_url: str = ""
    """The document's own URL as it states it (``rel="self"``, JSON Feed ``feed_url``)."""


def parse_feed(
    body: bytes,
    feed_url: str,
    *,
    max_entries: int = 500,
    headers: Mapping[str, str] | None = None,
    base_url: str = "",
) -> ParsedFeed:
    """Parse RSS, Atom or JSON Feed bytes into entries with absolute http(s) links.

    ``headers`` are the HTTP response's (lower-case names): their charset and
    ``Content-Location`` are used. ``base_url`` is where the document was really fetched
    from (after redirects; ``feed_url`` if empty): relative links resolve against it.
    Entries keep ``feed_url`` as theirs.

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
    try:
        parsed = feedparser.parse(io.BytesIO(_safe_char_refs(body)))
    except Exception as exc:  # a hostile document must not crash the poller
        raise FeedError(
            f"not a feed: parser failed: {type(exc).__name__}: {exc}", url=feed_url
        ) from exc
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


def _safe_char_refs(body: bytes) -> bytes:
    """The body with numeric character references to no character replaced by U+FFFD.

    feedparser's fallback (loose) parser calls ``chr(n).encode()`` on every ``&#n;`` and raises
    on surrogates, on ``n > 0x10FFFF`` and on numbers past a C int. UTF-16 and UTF-32 bodies
    are decoded, fixed and encoded back; any other encoding keeps ASCII's ``&#...;`` bytes.
    """
    codec = _wide_codec(body)
    if codec is None:
        return _CHAR_REF.sub(_replace_bad_ref_bytes, body) if b"&#" in body else body
    try:
        text = body.decode(codec)
    except UnicodeDecodeError:
        return body  # feedparser falls back or fails: parse_feed turns a crash into FeedError
    fixed = _CHAR_REF_TEXT.sub(_replace_bad_ref, text)
    return body if fixed == text else fixed.encode(codec, "surrogatepass")


def _wide_codec(body: bytes) -> str | None:
    """The codec of a UTF-16 or UTF-32 body (by its BOM, else by the zero bytes of ``<``)."""
    head = body[:4]
    for prefix, codec in (
        (b"\xff\xfe\x00\x00", "utf-32"),
        (b"\x00\x00\xfe\xff", "utf-32"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
        (b"<\x00\x00\x00", "utf-32-le"),
        (b"\x00\x00\x00<", "utf-32-be"),
        (b"<\x00", "utf-16-le"),
        (b"\x00<", "utf-16-be"),
    ):
        if head.startswith(prefix):
            return codec
    return None


def _replace_bad_ref_bytes(match: re.Match[bytes]) -> bytes:
    hex_digits, decimal = match.group(1), match.group(2)
    text = (hex_digits or decimal).decode("ascii")
    return (
        _REPLACEMENT_REF.encode()
        if _no_character(text, hexadecimal=bool(hex_digits))
        else match.group(0)
    )


def _replace_bad_ref(match: re.Match[str]) -> str:
    hex_digits, decimal = match.group(1), match.group(2)
    return (
        _REPLACEMENT_REF
        if _no_character(hex_digits or decimal, hexadecimal=bool(hex_digits))
        else match.group(0)
    )


def _no_character(digits: str, *, hexadecimal: bool) -> bool:
    """True if the reference names no encodable character (surrogate or past U+10FFFF)."""
    if len(digits.lstrip("0")) > 8:
        return True
    code = int(digits, 16 if hexadecimal else 10)
    return code > 0x10FFFF or 0xD800 <= code <= 0xDFFF


def _entry_from_feedparser(entry: Any, feed_url: str) -> FeedEntry | None:
    link = http_url(entry.get("link") or _alternate_link(entry), feed_url)
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
    link = http_url(_text(item.get("url")) or _text(item.get("external_url")), feed_url)
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
    entries = [_encodable_entry(e) for e in raw if e is not None]
    skipped = len(raw) - len(entries) + max(0, len(entries) - max_entries)
    if len(entries) > max_entries:
        capped = f"capped at {max_entries} of {len(entries)} entries (max_entries_per_poll)"
        warning = f"{warning}; {capped}" if warning else capped
    return ParsedFeed(
        title=encodable(title),
        entries=tuple(entries[:max_entries]),
        skipped=skipped,
        warning=encodable(warning),
    )


def encodable(text: str) -> str:
    """``text`` with lone surrogates (which UTF-8 cannot encode) replaced by U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text


def _encodable_entry(entry: FeedEntry) -> FeedEntry:
    """The entry with every text UTF-8 can encode (hashed into keys, sent as JSON)."""
    texts = (entry.title, entry.summary, entry.guid, *entry.authors)
    if all(encodable(t) is t for t in texts):
        return entry
    return dataclasses.replace(
        entry,
        title=encodable(entry.title),
        summary=encodable(entry.summary),
        guid=encodable(entry.guid),
        authors=tuple(encodable(a) for a in entry.authors),
    )


def http_url(link: str, base: str = "") -> str | None:
    """``link`` made absolute against ``base`` if it is a usable http(s) URL, else None.

    Usable: at most ``MAX_URL_LENGTH`` characters, http or https, a host, a valid port, and
    nothing that ``urllib.parse`` refuses (``http://[::1/a``) or UTF-8 cannot encode.
    """
    link = link.strip()
    if not link or len(link) > MAX_URL_LENGTH or encodable(link) is not link:
        return None
    if not base and link[:8].lower().partition(":")[0] not in ("http", "https"):
        return None  # cheap refusal of what cannot be an absolute http(s) URL
    try:
        absolute = urljoin(base, link) if base else link
        parts = urlsplit(absolute)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return as_uri(absolute) or None  # an IRI (space, é, non-ASCII host) as the URI it means


def _struct_time_iso(value: time.struct_time | None) -> str | None:
    if value is None:
        return None
    try:
        return datetime(*value[:6], tzinfo=UTC).isoformat()
    except (TypeError, ValueError, OverflowError):
        return None


def _iso_or_none(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC).isoformat()
    except (ValueError, OverflowError):  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        return None
