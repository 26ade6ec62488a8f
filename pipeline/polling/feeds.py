"""Feed parsing: bytes in, entries out. The only module that imports feedparser.

feedparser is given a file object, never a string or bytes: it opens a string as a URL or a
local path, and bytes as a local path (``b"/dev/zero"`` would be read forever).
JSON Feed, which feedparser 6 does not read, is read by :mod:`pipeline.polling.jsonfeed`.

Links are resolved here, not by feedparser: it is given no base URL, so each link comes out
as the document writes it (an ``xml:base`` in the document is still applied by feedparser),
and :func:`~pipeline.polling.links.http_url` resolves it against the document's base: its
``Content-Location``, else the URL it was fetched from after redirects. Given a base,
feedparser would also resolve permalink guids (``<guid>12345</guid>`` would come out as
``https://host/feeds/12345``), and a guid that is no URL could not be told from one. An
entry's link is its ``feedburner:origLink``, else its first usable alternate link, else (and
only then) a permalink guid or Atom id that is itself an absolute http(s) URL.

Charset: a BOM or the XML declaration's encoding wins, as before. A charset given only in the
HTTP ``Content-Type`` is used when the body is not valid UTF-8 (a valid UTF-8 body is UTF-8
whatever the label, as Miniflux reads it). feedparser is not given the response's
``Content-Type`` itself: it would apply RFC 3023 (``text/xml`` without a charset is
US-ASCII) and flag every ``text/html`` feed as malformed.

Dates: each of an entry's date strings is read by :func:`pipeline.polling.dates.parse_date`;
feedparser's own reading is used only where ours gives nothing, and never for text that
starts with a digit (its ISO 8601 reader fills a month it cannot read from today's date).
``published_at`` is the first of published (RSS ``pubDate``, Atom ``published``, Atom 0.3
``issued``), created (Atom 0.3 ``created``, ``dcterms:created``) and updated.

Hostile documents end as a :class:`FeedError` or as skipped entries, never as another
exception. Before feedparser sees the body, a few shapes it mishandles are rewritten:
numeric character references to no character (``&#xD800;``, ``&#x110000;``), which crash
its fallback parser, become U+FFFD; an empty ``<link/>``, which would hide a permalink guid,
is dropped; and a ``<link>`` attribute with a scheme other than http(s) is dropped, so that
in ``<link uri="at://…">https://…</link>`` the element's text is the link. Lone surrogates
(JSON ``"\\ud800"``) are replaced in every text kept; dates out of range are no date; a link
that does not parse (``http://[::1/a``, a bad port) is skipped like any unusable link.
"""

from __future__ import annotations

import codecs
import dataclasses
import io
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import feedparser

from pipeline.errors import FeedError
from pipeline.models import FeedEntry
from pipeline.polling.cadence import feed_period_s
from pipeline.polling.dates import iso_utc, parse_date
from pipeline.polling.jsonfeed import JsonFeed, read_json_feed
from pipeline.polling.links import MAX_URL_LENGTH, document_base, encodable, http_url

__all__ = ["MAX_URL_LENGTH", "ParsedFeed", "encodable", "http_url", "parse_feed"]

_UTF8_BOM = b"\xef\xbb\xbf"
_CHARSET = re.compile(r";\s*charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"\s*<\?xml[^>]*\sencoding\s*=")
_CHAR_REF = re.compile(r"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));")
_REPLACEMENT_REF = "&#xFFFD;"
_EMPTY_LINK = re.compile(r"<link\s*/>|<link\s*>\s*</link\s*>")
_LINK_TAG = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?link\s[^<>]*>")
_NON_HTTP_ATTRIBUTE = re.compile(
    r"""\s(?:href|uri|url)\s*=\s*(?:"\s*(?!https?:)[A-Za-z][\w+.-]*:[^"]*"|"""
    r"""'\s*(?!https?:)[A-Za-z][\w+.-]*:[^']*')""",
    re.IGNORECASE,
)
_DATE_FIELDS = {"published": ("published", "created", "updated"), "updated": ("updated",)}


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
    headers = headers or {}
    base = document_base(base_url or feed_url, headers.get("content-location", ""))
    charset = declared_charset(headers.get("content-type", ""))
    if body.removeprefix(_UTF8_BOM).lstrip()[:1] == b"{":
        doc = read_json_feed(body, feed_url, base=base, charset=charset)
        return _from_json_feed(doc, max_entries)
    return _parse_xml_feed(body, feed_url, base=base, charset=charset, max_entries=max_entries)


def declared_charset(content_type: str) -> str:
    """The codec name of a ``Content-Type``'s charset, or "" if it names none Python knows."""
    match = _CHARSET.search(content_type)
    if match is None:
        return ""
    try:
        return codecs.lookup(match.group(1)).name
    except LookupError:
        return ""


def _from_json_feed(doc: JsonFeed, max_entries: int) -> ParsedFeed:
    parsed = _collect(doc.title, list(doc.entries), max_entries, "")
    return dataclasses.replace(
        parsed, skipped=parsed.skipped + doc.not_objects, hubs=doc.hubs, self_url=doc.self_url
    )


def _parse_xml_feed(
    body: bytes, feed_url: str, *, base: str, charset: str, max_entries: int
) -> ParsedFeed:
    parsed = _run_feedparser(body, feed_url, charset)
    version = parsed.get("version") or ""
    if not version and not parsed.entries:
        problem = parsed.get("bozo_exception") or "no RSS/Atom structure found"
        raise FeedError(f"not a feed: {problem}", url=feed_url)
    raw = [_entry_from_feedparser(e, feed_url, base) for e in parsed.entries]
    warning = f"malformed feed: {parsed.get('bozo_exception')}" if parsed.get("bozo") else ""
    feed = parsed.feed
    collected = _collect(str(feed.get("title", "")), raw, max_entries, warning)
    period_s = feed_period_s(
        str(feed.get("ttl", "")),
        str(feed.get("sy_updateperiod", "")),
        str(feed.get("sy_updatefrequency", "")),
    )
    hubs = _feed_links(feed, "hub", base)
    self_url = next(iter(_feed_links(feed, "self", base)), "")
    return dataclasses.replace(collected, period_s=period_s, hubs=hubs, self_url=self_url)


def _run_feedparser(body: bytes, feed_url: str, charset: str) -> Any:
    """feedparser's reading of the repaired body, told the HTTP charset when it is needed."""
    use_charset = bool(charset) and not _states_encoding(body) and not _is_utf8(body)
    headers = {"content-type": f"application/xml; charset={charset}"} if use_charset else None
    try:
        return feedparser.parse(io.BytesIO(_repaired_markup(body)), response_headers=headers)
    except Exception as exc:  # a hostile document must not crash the poller
        raise FeedError(
            f"not a feed: parser failed: {type(exc).__name__}: {exc}", url=feed_url
        ) from exc


def _states_encoding(body: bytes) -> bool:
    """True if the body says its own encoding: a BOM, or an XML declaration's ``encoding``."""
    if body.startswith(_UTF8_BOM) or _wide_codec(body) is not None:
        return True
    return _XML_ENCODING.match(body[:1024]) is not None


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _repaired_markup(body: bytes) -> bytes:
    """The body with the shapes feedparser mishandles rewritten (see the module docstring).

    UTF-16 and UTF-32 bodies are decoded, fixed and encoded back; any other encoding is read
    as Latin-1, which maps every byte to itself, so the ASCII markup of any ASCII-compatible
    encoding is seen and every other byte is kept as it was.
    """
    codec = _wide_codec(body) or "latin-1"
    try:
        text = body.decode(codec)
    except UnicodeDecodeError:
        return body  # feedparser falls back or fails: parse_feed turns a crash into FeedError
    fixed = _repair(text)
    return body if fixed == text else fixed.encode(codec, "surrogatepass")


def _repair(text: str) -> str:
    if "&#" in text:
        text = _CHAR_REF.sub(_replace_bad_ref, text)
    text = _EMPTY_LINK.sub("", text)
    return _LINK_TAG.sub(lambda tag: _NON_HTTP_ATTRIBUTE.sub("", tag.group(0)), text)


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


def _replace_bad_ref(match: re.Match[str]) -> str:
    """U+FFFD for a reference that names no encodable character (feedparser's fallback
    parser calls ``chr(n).encode()`` on every ``&#n;`` and raises on surrogates, on
    ``n > 0x10FFFF`` and on numbers past a C int); any other reference as it was."""
    hex_digits, decimal = match.group(1), match.group(2)
    digits = hex_digits or decimal
    if len(digits.lstrip("0")) > 8:
        return _REPLACEMENT_REF
    code = int(digits, 16 if hex_digits else 10)
    return _REPLACEMENT_REF if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF else match.group(0)


def _entry_from_feedparser(entry: Any, feed_url: str, base: str) -> FeedEntry | None:
    link = _entry_link(entry, base)
    if link is None:
        return None
    return FeedEntry(
        url=link,
        feed_url=feed_url,
        title=str(entry.get("title", "")).strip(),
        published_at=_entry_time(entry, "published"),
        updated_at=_entry_time(entry, "updated"),
        authors=_authors(entry),
        summary=str(entry.get("summary", "")).strip(),
        guid=str(entry.get("id") or "").strip()[:MAX_URL_LENGTH],
    )


def _entry_link(entry: Any, base: str) -> str | None:
    """``feedburner:origLink``, else the first usable alternate link, else a permalink guid
    (RSS ``isPermaLink`` true or absent, Atom ``id``) that is an absolute http(s) URL."""
    for candidate in (_text(entry.get("feedburner_origlink")), *_alternate_hrefs(entry)):
        link = http_url(candidate, base)
        if link is not None:
            return link
    if dict.get(entry, "guidislink"):
        return http_url(_text(entry.get("id")))  # no base: a relative or non-URL guid is refused
    return None


def _alternate_hrefs(entry: Any) -> list[str]:
    """The hrefs of the entry's alternate links, its main one first.

    Not feedparser's ``entry.link`` on its own: when the entry has no link, feedparser sets it
    from a permalink guid, ``12345`` included.
    """
    hrefs = [
        _text(link.get("href"))
        for link in entry.get("links", [])
        if link.get("rel", "alternate") == "alternate" and link.get("href")
    ]
    main = _text(entry.get("link"))
    return [main, *hrefs] if main in hrefs else hrefs


def _entry_time(entry: Any, kind: str) -> str | None:
    """The entry's ``published`` or ``updated`` time (see the module docstring for which)."""
    for field in _DATE_FIELDS[kind]:
        # dict.get: feedparser's own get() warns (DeprecationWarning) when it falls back
        # from updated to published, which would hide which field the date came from.
        text = _text(dict.get(entry, field))
        moment = parse_date(text) or _feedparser_moment(text, dict.get(entry, f"{field}_parsed"))
        if moment is not None:
            return iso_utc(moment)
    return None


def _feedparser_moment(text: str, parsed: Any) -> datetime | None:
    """feedparser's reading of a date ours could not read (Greek, Korean month names...).

    Not for text that starts with a digit: feedparser's ISO 8601 reader then matches what
    it can (``2016`` of ``2016/6/29``, or a bare year) and takes the month it could not read
    from today's date, so ``2016/6/29`` read in December was 2016-12-01.
    """
    if text[:1].isdigit() or not isinstance(parsed, time.struct_time):
        return None
    try:
        return datetime(*parsed[:6], tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _authors(entry: Any) -> tuple[str, ...]:
    authors = tuple(a.get("name", "") for a in entry.get("authors", []) if a.get("name"))
    if not authors and entry.get("author"):
        authors = (str(entry["author"]),)
    return authors


def _feed_links(feed: Any, rel: str, base: str) -> tuple[str, ...]:
    """The usable http(s) hrefs of the feed's ``<link rel=...>`` (Atom or RSS), once each."""
    found = (
        http_url(_text(link.get("href")), base)
        for link in feed.get("links", [])
        if link.get("rel") == rel
    )
    return tuple(dict.fromkeys(url for url in found if url))


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
