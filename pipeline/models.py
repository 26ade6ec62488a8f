"""Frozen records that flow through the pipeline. No I/O and no wire format here."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedEntry:
    """One entry of a feed: what the poller knows about an article before fetching it."""

    url: str
    feed_url: str = ""
    title: str = ""
    published_at: str | None = None
    authors: tuple[str, ...] = ()
    summary: str = ""
    enqueued_at: float | None = None
    """Unix time the poller enqueued the entry (for end-to-end latency)."""
    updated_at: str | None = None
    """The feed's last-modified time of the entry (ISO 8601), when it gives one."""
    update: bool = False
    """True when the entry was seen before and the feed says it changed: re-check the page."""
    guid: str = ""
    """The feed's own id of the entry (RSS guid, Atom id, JSON Feed id); not sent to workers."""

    def to_message(self) -> dict[str, Any]:
        """The JSON-safe dict sent through the broker (small: no page bodies)."""
        return {
            "url": self.url,
            "feed_url": self.feed_url,
            "title": self.title[:500],
            "published_at": self.published_at,
            "authors": list(self.authors[:10]),
            "summary": self.summary[:1000],
            "enqueued_at": self.enqueued_at,
            "updated_at": self.updated_at,
            "update": self.update,
        }

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> FeedEntry:
        """Rebuild an entry from :meth:`to_message` output."""
        return cls(
            url=str(message["url"]),
            feed_url=str(message.get("feed_url") or ""),
            title=str(message.get("title") or ""),
            published_at=message.get("published_at") or None,
            authors=tuple(str(a) for a in message.get("authors") or ()),
            summary=str(message.get("summary") or ""),
            enqueued_at=_float_or_none(message.get("enqueued_at")),
            updated_at=message.get("updated_at") or None,
            update=bool(message.get("update")),
        )


def _float_or_none(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Page:
    """A fetched HTML page, decoded to text."""

    url: str
    final_url: str
    status: int
    content_type: str
    html: str
    fetched_at: datetime
    headers: tuple[tuple[str, str], ...] = ()
    """The response headers (names in lower case), for the raw page archive."""
    body: bytes = b""
    """The body as received (after Content-Encoding), for the raw page archive."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """Where an article was published."""

    name: str
    domain: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ExtractorInfo:
    """Which extractor produced the article."""

    name: str
    version: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Image:
    """A photo of the article, with its caption and credit (kept out of the body text)."""

    url: str
    caption: str = ""
    credit: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Article:
    """A clean, typed article: the body of a stream entry (contract v1).

    Fields after ``extractor`` were added in v1.1 (additive: consumers ignore what they do
    not know). ``provenance`` maps a metadata field to where its value came from:
    ``json-ld``, ``meta``, ``html``, ``time``, ``url``, ``htmldate``, ``feed``,
    ``heuristic`` or ``detected``; a field with no value may have its reason in ``missing``.
    """

    id: str
    url: str
    canonical_url: str
    feed_url: str
    source: Source
    title: str
    authors: tuple[str, ...]
    published_at: datetime | None
    language: str | None
    description: str
    text: str
    word_count: int
    fetched_at: datetime
    extractor: ExtractorInfo
    modified_at: datetime | None = None
    language_declared: str | None = None
    section: str = ""
    categories: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    image: str = ""
    images: tuple[Image, ...] = ()
    paywalled: bool = False
    reading_time_min: int = 0
    body: str = ""
    """The body as Markdown or HTML when ``extract.body_format`` asks for it, else ""."""
    body_format: str = "text"
    provenance: dict[str, str] = dataclasses.field(default_factory=dict)
    missing: dict[str, str] = dataclasses.field(default_factory=dict)
    """Why a field is empty or null (e.g. ``published_at``), by field name."""
    completeness: float = 0.0
    """Share of the core metadata fields that are filled (0..1)."""

    def replace(self, **changes: Any) -> Article:
        """Return a copy with some fields changed."""
        return dataclasses.replace(self, **changes)


class OutcomeKind(StrEnum):
    """The terminal states of an enqueued URL (plus ``already``: decided earlier).

    ``updated`` and ``unchanged`` are the results of re-checking an already published page.
    """

    PUBLISHED = "published"
    DUPLICATE = "duplicate"
    DROPPED = "dropped"
    DEAD = "dead"
    ALREADY = "already"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What happened to one entry. ``ref`` is the stream id or the duplicated article id."""

    kind: OutcomeKind
    url: str
    ref: str = ""
    reason: str = ""

    def __str__(self) -> str:
        detail = " ".join(part for part in (self.ref, self.reason) if part)
        return f"{self.kind.value} {self.url} {detail}".rstrip()
