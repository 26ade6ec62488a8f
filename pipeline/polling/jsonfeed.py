"""JSON Feed documents into entries (feedparser 6 does not read JSON Feed).

A JSON Feed is a JSON object whose ``version`` names jsonfeed.org (1.0, 1.1), or any JSON
object with an ``items`` list, whatever its ``version`` says or whether it has one (``"1.1"``,
none): gofeed and Miniflux read those too. Any other JSON is no feed.

JSON is UTF-8 by its spec (UTF-16 and UTF-32 are detected); a charset the server declares is
used only when the body is not valid UTF-8. Values of the wrong shape (a number for a URL, a
string for the authors) are ignored, items that are not objects are counted as skipped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pipeline.errors import FeedError
from pipeline.models import FeedEntry
from pipeline.polling.dates import iso_utc, parse_date
from pipeline.polling.links import MAX_URL_LENGTH, http_url


@dataclass(frozen=True, slots=True, kw_only=True)
class JsonFeed:
    """What a JSON Feed document says, before entries are capped and cleaned."""

    title: str
    entries: tuple[FeedEntry | None, ...]
    """One per item that is an object; None where the item has no usable link."""
    not_objects: int
    """Items that are not JSON objects (strings, numbers, null)."""
    hubs: tuple[str, ...]
    self_url: str


def read_json_feed(body: bytes, feed_url: str, *, base: str, charset: str = "") -> JsonFeed:
    """Read a JSON Feed; its relative URLs resolve against ``base``.

    Raises:
        FeedError: the body is not JSON, or is JSON but not a feed.
    """
    doc = _load(body, feed_url, charset)
    if not _is_feed(doc):
        raise FeedError("JSON document is not a JSON Feed", url=feed_url)
    items: list[Any] = doc["items"] if isinstance(doc.get("items"), list) else []
    objects = [item for item in items if isinstance(item, dict)]
    return JsonFeed(
        title=_text(doc.get("title")),
        entries=tuple(_entry(item, feed_url, base) for item in objects),
        not_objects=len(items) - len(objects),
        hubs=_hubs(doc.get("hubs"), base),
        self_url=http_url(_text(doc.get("feed_url")), base) or "",
    )


def _load(body: bytes, feed_url: str, charset: str) -> Any:
    try:
        return json.loads(_json_text(body, charset))
    except (ValueError, RecursionError) as exc:
        raise FeedError(f"invalid JSON feed: {exc}", url=feed_url) from exc


def _json_text(body: bytes, charset: str) -> bytes | str:
    """The body as :func:`json.loads` should read it: decoded with ``charset`` only when the
    body is meant as UTF-8 (no UTF-16/32) but is not valid UTF-8."""
    if not charset or json.detect_encoding(body) not in ("utf-8", "utf-8-sig"):
        return body
    try:
        body.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return body.decode(charset)
        except (UnicodeDecodeError, LookupError):  # a lying or non-text charset
            return body
    return body


def _is_feed(doc: Any) -> bool:
    if not isinstance(doc, dict):
        return False
    return "jsonfeed.org" in str(doc.get("version", "")) or isinstance(doc.get("items"), list)


def _entry(item: dict[str, Any], feed_url: str, base: str) -> FeedEntry | None:
    link = http_url(_text(item.get("url")), base) or http_url(_text(item.get("external_url")), base)
    if link is None:
        return None
    return FeedEntry(
        url=link,
        feed_url=feed_url,
        title=_text(item.get("title")).strip(),
        published_at=_time(item.get("date_published")) or _time(item.get("date_modified")),
        updated_at=_time(item.get("date_modified")),
        authors=_authors(item),
        summary=_text(item.get("summary")).strip(),
        guid=_item_id(item.get("id")),
    )


def _time(value: Any) -> str | None:
    return iso_utc(parse_date(value)) if isinstance(value, str) else None


def _item_id(value: Any) -> str:
    """An item's ``id`` (a string by the spec; numbers are seen in the wild)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return ""
    return str(value).strip()[:MAX_URL_LENGTH]


def _authors(item: dict[str, Any]) -> tuple[str, ...]:
    """``authors`` (JSON Feed 1.1) or ``author`` (1.0); anything not shaped right is ignored."""
    raw = item.get("authors") or item.get("author")
    candidates = raw if isinstance(raw, list) else [raw]
    return tuple(
        _text(a.get("name")) for a in candidates if isinstance(a, dict) and _text(a.get("name"))
    )


def _hubs(value: Any, base: str) -> tuple[str, ...]:
    """The WebSub hubs in ``hubs`` (type ``WebSub`` or none given; not ``rssCloud``) whose
    ``url`` is a usable http(s) URL, once each."""
    hubs = value if isinstance(value, list) else []
    found = (
        http_url(_text(hub.get("url")), base)
        for hub in hubs
        if isinstance(hub, dict) and _text(hub.get("type", "WebSub")).lower() == "websub"
    )
    return tuple(dict.fromkeys(url for url in found if url))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
