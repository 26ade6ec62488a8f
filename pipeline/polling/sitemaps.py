"""XML sitemaps, sitemap indexes and Google News sitemaps: bytes in, entries out. Pure.

What a document is, its root element says (:func:`document_kind`): a bounded incremental
parse that stops at the root's start tag. A sitemap is parsed incrementally too: the bytes
(inflated piece by piece if gzipped) are fed to an lxml pull parser, each ``<url>`` or
``<sitemap>`` is read and dropped as soon as it ends, and parsing stops at ``max_entries``, or
after the protocol's 50,000 ``<url>``. So memory stays flat whatever the size (a 788,000-URL
sitemap is read like a 500-URL one) and the time is bounded. No DTD, no entities, no network,
no huge-tree mode; more than 50 MB once inflated is a :class:`FeedError`.

A sitemap cut short (its XML ends before its root does, or its gzip stream before its end)
keeps every complete ``<url>`` and says so in its warning, as ultimate-sitemap-parser and
Google News do; a syntax error inside the document is a :class:`FeedError`.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from lxml import etree

from pipeline.errors import FeedError
from pipeline.models import FeedEntry
from pipeline.polling.dates import parse_date
from pipeline.polling.feeds import ParsedFeed, http_url

DocumentKind = Literal["sitemap", "sitemapindex", "feed", "unknown"]
SITEMAP_NAMESPACES = frozenset(
    {
        "",
        "http://www.sitemaps.org/schemas/sitemap/0.9",
        "http://www.google.com/schemas/sitemap/0.84",  # Google's, before sitemaps.org
        "http://www.google.com/schemas/sitemap/0.9",
    }
)
_FEED_ROOTS = frozenset({"rss", "RDF", "feed"})
_NEWS = "{http://www.google.com/schemas/sitemap-news/0.9}"
_NEWS_TAG = f"{_NEWS}news"
_NEWS_FIELDS = {f"{_NEWS}publication_date": "published", f"{_NEWS}title": "title"}
_MAX_INFLATED = 50 * 1024 * 1024
MAX_ITEMS = 50_000
"""``<url>`` (or ``<sitemap>``) elements read at most: the sitemap protocol's own limit."""
_CHUNK = 64 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
_UTF8_BOM = b"\xef\xbb\xbf"
SNIFF_BYTES = 256 * 1024
"""Bytes of the (inflated) document that :func:`document_kind` reads at most."""


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexEntry:
    """One ``<sitemap>`` of a sitemap index."""

    url: str
    lastmod: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Sitemap:
    """A sitemap's article entries, or (for an index) the sitemaps it lists.

    For an index, ``feed`` has no entries but carries the index's own warning, if any.
    """

    feed: ParsedFeed
    children: tuple[IndexEntry, ...]
    capped: bool = False
    """``max_entries`` were kept and more followed (unread)."""


def document_kind(body: bytes) -> DocumentKind:
    """What a document is, by its root element.

    ``urlset`` is a sitemap and ``sitemapindex`` a sitemap index, in the sitemap namespace or
    none; ``rss``, ``rdf:RDF``, ``feed`` or a JSON object is a feed; anything else (HTML, not
    XML, no root within :data:`SNIFF_BYTES`) is unknown. At most that many bytes are read (a
    gzipped body is inflated that far), up to the root's start tag; no DTD, entities or
    network.

    Raises:
        FeedError: the body is gzip that does not inflate before its root element.
    """
    if body.removeprefix(_UTF8_BOM).lstrip()[:1] == b"{":
        return "feed"
    tag = _root_tag(body)
    if tag is None:
        return "unknown"
    return _sitemap_kind(tag) or ("feed" if _local(tag) in _FEED_ROOTS else "unknown")


def _root_tag(body: bytes) -> str | None:
    """The root element's ``{namespace}name``, if it starts within :data:`SNIFF_BYTES`."""
    parser = _pull_parser(("start",))
    read = 0
    try:
        for piece in _Pieces(body, url=""):
            parser.feed(piece)
            tag = _first_start(parser)
            read += len(piece)
            if tag or read >= SNIFF_BYTES:
                return tag or None
        parser.close()
    except etree.XMLSyntaxError:
        pass  # the start tags read before the error are still there
    return _first_start(parser) or None


def _first_start(parser: etree.XMLPullParser) -> str:
    for _, element in parser.read_events():
        return element.tag if isinstance(element.tag, str) else ""
    return ""


def _sitemap_kind(tag: str) -> Literal["sitemap", "sitemapindex"] | None:
    namespace = tag[1 : tag.find("}")] if tag.startswith("{") else ""
    if namespace not in SITEMAP_NAMESPACES:
        return None
    name = _local(tag)
    return "sitemap" if name == "urlset" else "sitemapindex" if name == "sitemapindex" else None


def parse_sitemap(
    body: bytes, url: str, *, max_entries: int, news_max_age_s: float, now: float | None = None
) -> Sitemap:
    """Entries of a ``urlset`` (news entries older than ``news_max_age_s`` skipped), or the
    child sitemaps of a ``sitemapindex``; reading stops once ``max_entries`` are kept, or
    after ``MAX_ITEMS`` elements.

    A sitemap that has more is capped: ``feed.warning`` says so, and what was not read is not
    counted in ``feed.skipped``. A truncated one keeps its complete items, with a warning.

    Raises:
        FeedError: not a sitemap, not well-formed (or cut before its first complete item),
            corrupt gzip, or larger than 50 MB inflated.
    """
    reader = _Reader(url, max_entries, (now or time.time()) - news_max_age_s)
    parser = _pull_parser(("start", "end"))
    pieces = _Pieces(body, url)
    try:
        for chunk in pieces:
            parser.feed(chunk)
            if reader.take(parser.read_events()):
                return reader.result()
    except etree.XMLSyntaxError as exc:
        raise FeedError(f"invalid sitemap: {exc}", url=url) from exc
    _finish(parser, reader, cut_short=pieces.cut_short)
    return reader.result()


def _pull_parser(events: tuple[str, ...]) -> etree.XMLPullParser:
    return etree.XMLPullParser(
        events=events,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def _finish(parser: etree.XMLPullParser, reader: _Reader, *, cut_short: bool) -> None:
    """End the parse once every byte was fed: a document that ends before its root does is
    truncated, and keeps what it completed (if anything).

    Raises:
        FeedError: not well-formed, or truncated before its first complete item.
    """
    gzip_cut = "its gzip stream ends early"
    try:
        parser.close()
    except etree.XMLSyntaxError as exc:
        reader.take(parser.read_events())
        cause = gzip_cut if cut_short else f"the XML ends early: {exc.msg[:200]}"
        if not reader.cut(cause, gzip=cut_short):
            raise FeedError(f"invalid sitemap: {exc}", url=reader.url) from exc
        return
    reader.take(parser.read_events())
    if cut_short:
        reader.cut(gzip_cut, gzip=True)


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
        self.url = url
        self._max = max_entries
        self._cutoff = cutoff
        self._open: list[etree._Element] = []
        """The elements started and not yet ended: the root, a <url>, its <loc>..."""
        self._root: etree._Element | None = None
        self._index = False
        self._item = _Item()
        self._entries: list[FeedEntry] = []
        self._children: list[IndexEntry] = []
        self._skipped = 0
        self._items = 0
        self._complete = 0
        self._capped = False
        self._too_many = False
        self._truncated = ""

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

    def cut(self, cause: str, *, gzip: bool) -> bool:
        """The document ended before its root did, or its gzip stream before its end: keep
        the items completed. False if none was, or if the XML was whole (not a cut)."""
        if self._complete and (self._open or gzip):
            self._truncated = cause
        return bool(self._truncated)

    def result(self) -> Sitemap:
        if self._root is None:
            raise FeedError("invalid sitemap: no root element", url=self.url)
        if self._index:
            empty = ParsedFeed(title="", entries=(), skipped=0, warning=self._warning())
            return Sitemap(feed=empty, children=tuple(self._children))
        feed = ParsedFeed(
            title="", entries=tuple(self._entries), skipped=self._skipped, warning=self._warning()
        )
        return Sitemap(feed=feed, children=(), capped=self._capped)

    def _warning(self) -> str:
        item = "<sitemap>" if self._index else "<url>"
        if self._truncated:
            what = "sitemap index" if self._index else "sitemap"
            kept = f"kept its {self._complete} complete {item}"
            return f"truncated {what}: {kept} ({self._truncated})"
        if self._capped:
            return f"capped at {self._max} entries (max_entries_per_poll); the rest not read"
        if self._too_many:
            return f"read the first {MAX_ITEMS} {item} only (the sitemap protocol's limit)"
        return ""

    def _enough(self) -> bool:
        """Whether to stop before the next ``<url>``: enough kept, or enough read."""
        if len(self._children if self._index else self._entries) >= self._max:
            self._capped = True
        elif self._items >= MAX_ITEMS:
            self._too_many = True
        self._items += 1
        return self._capped or self._too_many

    def _start_root(self, root: etree._Element) -> None:
        kind = _sitemap_kind(root.tag) if isinstance(root.tag, str) else None
        if kind is None:
            raise FeedError(f"not a sitemap: root element <{_local(root.tag)[:100]}>", url=self.url)
        self._root = root
        self._index = kind == "sitemapindex"

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
        self._complete += 1
        if self._index:
            loc = http_url(item.loc or "")
            if loc is not None:
                self._children.append(IndexEntry(url=loc, lastmod=parse_date(item.lastmod or "")))
            return
        entry = _entry(item, self.url, self._cutoff)
        if entry is None:
            self._skipped += 1
        else:
            self._entries.append(entry)


def _local(tag: object) -> str:
    """An element's name without its namespace ("" for a comment or entity)."""
    return tag[tag.rfind("}") + 1 :] if isinstance(tag, str) else ""


def _entry(item: _Item, sitemap_url: str, cutoff: float) -> FeedEntry | None:
    published = parse_date(item.news.get("published", "")) if item.news else None
    if published is not None and published.timestamp() < cutoff:
        return None
    loc = http_url(item.loc or "")
    if loc is None:
        return None
    modified = parse_date(item.lastmod or "")
    return FeedEntry(
        url=loc,
        feed_url=sitemap_url,
        title=item.news.get("title", ""),
        published_at=published.isoformat() if published else None,
        updated_at=modified.isoformat() if modified else None,
    )


def gunzipped(body: bytes, url: str, *, limit: int) -> bytes:
    """The body inflated if it is gzip (a ``.xml.gz`` feed), else as it is.

    Raises:
        FeedError: corrupt or cut-short gzip, or more than ``limit`` bytes once inflated.
    """
    if body[:2] != _GZIP_MAGIC:
        return body
    pieces = _Pieces(body, url)
    out = bytearray()
    for piece in pieces:
        out += piece
        if len(out) > limit:
            raise FeedError(f"gzipped feed over {limit} bytes once inflated", url=url)
    if pieces.cut_short:
        raise FeedError("gzipped feed: the gzip stream ends early", url=url)
    return bytes(out)


class _Pieces:
    """The document in pieces of at most 64 KB, inflated piece by piece if it is gzip (one
    member or several; zero padding may follow them). Once iterated, ``cut_short`` says
    whether the gzip stream ended before its end (what came before it was given)."""

    def __init__(self, body: bytes, url: str) -> None:
        self._body = body
        self._url = url
        self.cut_short = False

    def __iter__(self) -> Iterator[bytes]:
        if self._body[:2] != _GZIP_MAGIC:
            for start in range(0, len(self._body), _CHUNK):
                yield self._body[start : start + _CHUNK]
            return
        try:
            yield from self._inflate()
        except zlib.error as exc:
            raise FeedError(f"invalid gzipped data: {exc}", url=self._url) from exc

    def _inflate(self) -> Iterator[bytes]:
        """Never more than 64 KB at a time, and at most 50 MB in all.

        Raises:
            FeedError: more than 50 MB inflated.
        """
        view = memoryview(self._body)
        offset, total = 0, 0
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
                    self.cut_short = True
                    return
                piece = inflater.decompress(data, _CHUNK)
                total += len(piece)
                if total > _MAX_INFLATED:
                    raise FeedError("sitemap over 50 MB once inflated", url=self._url)
                if piece:
                    yield piece
            offset -= len(inflater.unused_data)  # the next member starts there
