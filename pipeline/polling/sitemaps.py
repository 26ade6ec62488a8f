"""XML sitemaps, sitemap indexes and Google News sitemaps: bytes in, entries out. Pure.

Parsed incrementally: the bytes (inflated piece by piece if gzipped) are fed to an lxml pull
parser, each ``<url>`` or ``<sitemap>`` is read and dropped as soon as it ends, and parsing
stops at ``max_entries``, or after the protocol's 50,000 ``<url>``. So memory stays flat
whatever the size (a 788,000-URL sitemap is read like a 500-URL one) and the time is bounded.
No DTD, no entities, no network, no huge-tree mode; more than 50 MB once inflated is a
:class:`FeedError`.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lxml import etree

from pipeline.errors import FeedError
from pipeline.models import FeedEntry
from pipeline.polling.feeds import ParsedFeed, http_url

_NEWS = "{http://www.google.com/schemas/sitemap-news/0.9}"
_NEWS_TAG = f"{_NEWS}news"
_NEWS_FIELDS = {f"{_NEWS}publication_date": "published", f"{_NEWS}title": "title"}
_MAX_INFLATED = 50 * 1024 * 1024
MAX_ITEMS = 50_000
"""``<url>`` (or ``<sitemap>``) elements read at most: the sitemap protocol's own limit."""
_CHUNK = 64 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
_HEAD = 4096
"""Bytes of the (inflated) document that :func:`is_sitemap` looks at."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Sitemap:
    """A sitemap's article entries, or (for an index) the sitemaps it lists."""

    feed: ParsedFeed
    children: tuple[str, ...]
    capped: bool = False
    """``max_entries`` were kept and more followed (unread)."""


def is_sitemap(body: bytes) -> bool:
    """True for an XML sitemap or sitemap index (gzipped or not).

    Only the first 4 KB are looked at (a gzipped body is inflated that far, no further).

    Raises:
        FeedError: the body starts like gzip but its start does not inflate.
    """
    head = _inflated_head(body) if body[:2] == _GZIP_MAGIC else body[:_HEAD]
    return b"<urlset" in head or b"<sitemapindex" in head


def parse_sitemap(
    body: bytes, url: str, *, max_entries: int, news_max_age_s: float, now: float | None = None
) -> Sitemap:
    """Entries of a ``urlset`` (news entries older than ``news_max_age_s`` skipped), or the
    child sitemaps of a ``sitemapindex``; reading stops once ``max_entries`` are kept, or
    after ``MAX_ITEMS`` elements.

    A sitemap that has more is capped: ``feed.warning`` says so, and what was not read is not
    counted in ``feed.skipped``.

    Raises:
        FeedError: not a well-formed sitemap, corrupt gzip, or larger than 50 MB inflated.
    """
    reader = _Reader(url, max_entries, (now or time.time()) - news_max_age_s)
    parser = etree.XMLPullParser(
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        for chunk in _pieces(body, url):
            parser.feed(chunk)
            if reader.take(parser.read_events()):
                break
        else:
            parser.close()
            reader.take(parser.read_events())
    except etree.XMLSyntaxError as exc:
        raise FeedError(f"invalid sitemap: {exc}", url=url) from exc
    return reader.result()


@dataclass(slots=True)
class _Item:
    """What one ``<url>`` or ``<sitemap>`` said, gathered as its elements end."""

    loc: str | None = None
    lastmod: str | None = None
    news: dict[str, str] = field(default_factory=dict)


class _Reader:
    """Turns pull-parser events into entries (or child sitemaps), dropping each element read.

    Every element leaves the tree as soon as it ends, so the tree never holds more than the
    path to the element being parsed.
    """

    def __init__(self, url: str, max_entries: int, cutoff: float) -> None:
        self._url = url
        self._max = max_entries
        self._cutoff = cutoff
        self._open: list[etree._Element] = []
        """The elements started and not yet ended: the root, a <url>, its <loc>..."""
        self._root: etree._Element | None = None
        self._index = False
        self._item = _Item()
        self._entries: list[FeedEntry] = []
        self._children: list[str] = []
        self._skipped = 0
        self._items = 0
        self._capped = False
        self._too_many = False

    def take(self, events: Iterator[tuple[str, etree._Element]]) -> bool:
        """Read the events; True once more items come than are kept (stop reading)."""
        stack = self._open
        for event, element in events:
            if event == "start":
                if not stack:
                    self._start_root(element)
                elif len(stack) == 1 and self._enough():
                    return True
                stack.append(element)
                continue
            stack.pop()
            if not stack:
                continue  # the root ended
            parent = stack[-1]
            depth = len(stack)
            if depth == 1:  # a <url> or <sitemap>
                self._end_item()
                parent.text = None  # whitespace before the first item
            elif depth == 2:  # its <loc>, <lastmod>, <news:news>
                self._item_field(element)
            elif depth == 3 and parent.tag == _NEWS_TAG:  # <news:publication_date>...
                self._news_field(element)
            parent.remove(element)  # with its tail text
        return False

    def result(self) -> Sitemap:
        if self._root is None:
            raise FeedError("invalid sitemap: no root element", url=self._url)
        if self._index:
            empty = ParsedFeed(title="", entries=(), skipped=0)
            return Sitemap(feed=empty, children=tuple(self._children))
        warning = ""
        if self._capped:
            warning = f"capped at {self._max} entries (max_entries_per_poll); the rest not read"
        elif self._too_many:
            warning = f"read the first {MAX_ITEMS} <url> only (the sitemap protocol's limit)"
        feed = ParsedFeed(
            title="", entries=tuple(self._entries), skipped=self._skipped, warning=warning
        )
        return Sitemap(feed=feed, children=(), capped=self._capped)

    def _enough(self) -> bool:
        """Whether to stop before the next ``<url>``: enough kept, or enough read."""
        if len(self._children if self._index else self._entries) >= self._max:
            self._capped = True
        elif self._items >= MAX_ITEMS:
            self._too_many = True
        self._items += 1
        return self._capped or self._too_many

    def _start_root(self, root: etree._Element) -> None:
        name = _local(root.tag)
        if name not in ("urlset", "sitemapindex"):
            raise FeedError(f"not a sitemap: root element <{name[:100]}>", url=self._url)
        self._root = root
        self._index = name == "sitemapindex"

    def _item_field(self, element: etree._Element) -> None:
        name = _local(element.tag)
        if name == "loc" and self._item.loc is None:
            self._item.loc = (element.text or "").strip()
        elif name == "lastmod" and self._item.lastmod is None:
            self._item.lastmod = (element.text or "").strip()

    def _news_field(self, element: etree._Element) -> None:
        key = _NEWS_FIELDS.get(element.tag)
        if key:
            self._item.news.setdefault(key, (element.text or "").strip())

    def _end_item(self) -> None:
        item, self._item = self._item, _Item()
        if self._index:
            loc = http_url(item.loc or "")
            if loc is not None:
                self._children.append(loc)
            return
        entry = _entry(item, self._url, self._cutoff)
        if entry is None:
            self._skipped += 1
        else:
            self._entries.append(entry)


def _local(tag: object) -> str:
    """An element's name without its namespace ("" for a comment or entity)."""
    return tag[tag.rfind("}") + 1 :] if isinstance(tag, str) else ""


def _entry(item: _Item, sitemap_url: str, cutoff: float) -> FeedEntry | None:
    published = _when(item.news.get("published", "")) if item.news else None
    if published is not None and published.timestamp() < cutoff:
        return None
    loc = http_url(item.loc or "")
    if loc is None:
        return None
    modified = _when(item.lastmod or "")
    return FeedEntry(
        url=loc,
        feed_url=sitemap_url,
        title=item.news.get("title", ""),
        published_at=published.isoformat() if published else None,
        updated_at=modified.isoformat() if modified else None,
    )


def _when(text: str) -> datetime | None:
    """A W3C datetime (date, or date and time; naive means UTC) in UTC, or None.

    None too for a time that is out of range once in UTC (``0001-01-01T00:00:00+01:00``).
    """
    try:
        parsed = datetime.fromisoformat(text)
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _pieces(body: bytes, url: str) -> Iterator[bytes]:
    """The document in pieces of at most 64 KB: inflated piece by piece if gzipped."""
    if body[:2] != _GZIP_MAGIC:
        for start in range(0, len(body), _CHUNK):
            yield body[start : start + _CHUNK]
        return
    yield from _inflate(body, url, limit=_MAX_INFLATED)


def _inflate(body: bytes, url: str, *, limit: int) -> Iterator[bytes]:
    """Inflate gzip (one member or several) incrementally: never more than 64 KB at a time.

    Raises:
        FeedError: corrupt or truncated gzip, or more than ``limit`` bytes inflated.
    """
    view = memoryview(body)
    offset, total = 0, 0
    try:
        while offset < len(view) and any(view[offset:]):  # zero padding may end the body
            inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)  # with gzip header and trailer
            while not inflater.eof:
                data: bytes | memoryview
                if inflater.unconsumed_tail:
                    data = inflater.unconsumed_tail
                elif offset < len(view):
                    data = view[offset : offset + _CHUNK]
                    offset += len(data)
                else:
                    raise FeedError("invalid gzipped sitemap: truncated", url=url)
                piece = inflater.decompress(data, _CHUNK)
                total += len(piece)
                if total > limit:
                    raise FeedError("sitemap over 50 MB once inflated", url=url)
                if piece:
                    yield piece
            offset -= len(inflater.unused_data)  # the next member starts there
    except zlib.error as exc:
        raise FeedError(f"invalid gzipped sitemap: {exc}", url=url) from exc


def _inflated_head(body: bytes) -> bytes:
    """The first 4 KB of a gzipped body, inflated (what follows is not inflated).

    Raises:
        FeedError: not even the start inflates.
    """
    head = b""
    try:
        for piece in _inflate(body, "", limit=_MAX_INFLATED):
            head += piece
            if len(head) >= _HEAD:
                break
    except FeedError:
        if not head:
            raise
    return head[:_HEAD]
