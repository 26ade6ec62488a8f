"""The children of a sitemap index, each polled on its own validators.

Each child is fetched with the ETag / Last-Modified of its last body taken, so an index that
did not change (304, or the same bytes) still shows its children's new URLs, and a child that
did not change costs a 304 or a hash compare: no parse, no enqueue. The index's children and
their validators live in one Redis hash per feed (:func:`pipeline.keys.sitemap_children`):
the poller writes it with :func:`save_children` only once the entries read were enqueued,
and a child's validators change only when its body parsed (else a server answering 304 to
them would hide a broken child, or the entries of a body never taken).

At most ``poller.max_child_sitemaps`` children are fetched per round, the most recently
modified first (their ``<lastmod>`` in the index; undated ones last, in index order), and none
once ``max_entries_per_poll`` entries were read. A child that fails does so alone (logged, and
counted in the warning); only if every child tried fails is the index's poll an error.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
import redis

from pipeline import keys
from pipeline.errors import (
    DropArticle,
    FeedError,
    FetchTimeout,
    HostThrottled,
    RedisUnavailable,
    UpstreamUnavailable,
)
from pipeline.fetch.client import Fetcher, Response, fetch_feed
from pipeline.fetch.politeness import HostGate
from pipeline.models import FeedEntry
from pipeline.polling.feeds import ParsedFeed, encodable
from pipeline.polling.sitemaps import IndexEntry, Sitemap, parse_sitemap
from pipeline.settings import FeedConfig, PollerSettings

log = logging.getLogger(__name__)
_NOT_THE_CHILDS = (RedisUnavailable, redis.RedisError)
"""Errors of Redis (host slots): the pipeline's, not one child's."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Child:
    """A child sitemap as its index lists it, with the validators of its last body taken."""

    url: str
    position: int
    lastmod: str = ""
    """The index's ``<lastmod>`` for it, ISO 8601 in UTC ("" if none)."""
    etag: str = ""
    last_modified: str = ""
    content_hash: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChildrenRound:
    """What polling an index's children did."""

    feed: ParsedFeed
    """The entries of the children that changed, and what went wrong (``warning``)."""
    children: tuple[Child, ...]
    """Every child the index lists, with the validators to save once the entries are taken."""
    changed: bool
    """Some child sent a new body that parsed."""
    complete: bool
    """Every child was read in full this round: the entries read are all the index has
    (else entries missing from them have not left it, and must not be forgotten)."""


FetchChild = Callable[[Child], Response]
"""A child's response to a conditional GET with its validators (304: empty body).

Raises FeedError when the child cannot be fetched now."""


def fetch_child(child: Child, feed: FeedConfig, *, fetcher: Fetcher, gate: HostGate) -> Response:
    """A child's response to a conditional GET, taking a slot of its host's limits.

    Raises:
        FeedError: it cannot be fetched now (throttled, refused, timed out, unavailable).
    """
    try:
        with gate.slot(child.url):
            return fetch_feed(
                fetcher,
                child.url,
                etag=child.etag,
                last_modified=child.last_modified,
                headers=feed.headers,
                proxy=feed.proxy,
            )
    except (HostThrottled, UpstreamUnavailable, FetchTimeout, DropArticle) as exc:
        raise FeedError(f"{exc.reason}: {exc.message}", url=child.url) from exc


def read_index(
    index: Sitemap,
    feed_url: str,
    *,
    client: redis.Redis,
    poller: PollerSettings,
    fetch: FetchChild,
) -> ChildrenRound:
    """Poll the children of an index just parsed (with the validators known for them).

    Raises:
        FeedError: every child tried failed.
    """
    children = listed_children(index.children, load_children(client, feed_url))
    polled = poll_children(children, feed_url=feed_url, poller=poller, fetch=fetch)
    warning = "; ".join(w for w in (index.feed.warning, polled.feed.warning) if w)
    return dataclasses.replace(polled, feed=dataclasses.replace(polled.feed, warning=warning))


def listed_children(entries: Iterable[IndexEntry], known: Mapping[str, Child]) -> tuple[Child, ...]:
    """The index's children in its order, each with the validators remembered for it."""
    children: dict[str, Child] = {}
    for entry in entries:
        if entry.url in children:
            continue
        lastmod = entry.lastmod.isoformat() if entry.lastmod else ""
        before = known.get(entry.url) or Child(url=entry.url, position=0)
        children[entry.url] = dataclasses.replace(before, position=len(children), lastmod=lastmod)
    return tuple(children.values())


def load_children(client: redis.Redis, feed_url: str) -> dict[str, Child]:
    """The children remembered for a feed's index, by URL (none if it is not an index)."""
    raw: Any = client.hgetall(keys.sitemap_children(feed_url))
    children = {}
    for value in raw.values():
        try:
            child = msgspec.json.decode(value, type=Child)
        except (msgspec.ValidationError, msgspec.DecodeError):
            continue  # not ours to read: that child is asked without validators
        children[child.url] = child
    return children


def save_children(client: redis.Redis, feed_url: str, children: Iterable[Child]) -> None:
    """Remember the index's children (only these) and their validators: call it only once
    the entries of the bodies those validators belong to were enqueued."""
    key = keys.sitemap_children(feed_url)
    pipe = client.pipeline(transaction=True)
    pipe.delete(key)
    mapping = {child.url: msgspec.json.encode(child) for child in children}
    if mapping:
        pipe.hset(key, mapping=mapping)  # type: ignore[arg-type]
    pipe.execute()


def children_by_recency(children: Iterable[Child]) -> list[Child]:
    """The children, most recently modified first; undated ones last, in index order."""

    def recency(child: Child) -> tuple[float, int]:
        moment = datetime.fromisoformat(child.lastmod).timestamp() if child.lastmod else None
        return (-moment if moment is not None else float("inf"), child.position)

    return sorted(children, key=recency)


@dataclass(slots=True)
class _Tally:
    """What the children read so far gave."""

    entries: list[FeedEntry] = dataclasses.field(default_factory=list)
    skipped: int = 0
    tried: int = 0
    capped: bool = False
    changed: bool = False
    read_in_full: int = 0
    failures: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    updated: dict[str, Child] = dataclasses.field(default_factory=dict)


def poll_children(
    children: tuple[Child, ...], *, feed_url: str, poller: PollerSettings, fetch: FetchChild
) -> ChildrenRound:
    """Fetch the most recently modified children (at most ``max_child_sitemaps``), each on
    its own validators, until ``max_entries_per_poll`` entries are read.

    Raises:
        FeedError: every child tried failed.
    """
    tally = _Tally()
    budget = poller.max_entries_per_poll
    for child in children_by_recency(children)[: poller.max_child_sitemaps]:
        if len(tally.entries) >= budget:
            tally.capped = True
            break
        tally.tried += 1
        _poll_child(child, tally, feed_url=feed_url, poller=poller, fetch=fetch)
    if tally.failures and len(tally.failures) == tally.tried:
        first = tally.failures[0]
        raise FeedError(f"all {tally.tried} child sitemaps failed; first: {first}", url=feed_url)
    merged = tuple(tally.updated.get(child.url, child) for child in children)
    return ChildrenRound(
        feed=_feed(tally, budget),
        children=merged,
        changed=tally.changed,
        complete=tally.read_in_full == len(children),
    )


def _poll_child(
    child: Child, tally: _Tally, *, feed_url: str, poller: PollerSettings, fetch: FetchChild
) -> None:
    """Read one child into the tally; its failure is its own (logged and counted)."""
    budget = poller.max_entries_per_poll - len(tally.entries)
    try:
        child, sitemap = _read_child(child, fetch, feed_url, budget, poller.news_max_age_s)
    except _NOT_THE_CHILDS:
        raise
    except FeedError as exc:
        log.warning("feed %s: child sitemap %s failed: %s", feed_url, child.url, exc)
        tally.failures.append(f"{child.url}: {exc.message}")
        return
    except Exception as exc:  # one child, not the whole index
        log.exception("feed %s: child sitemap %s failed", feed_url, child.url)
        text = " ".join(f"internal error: {type(exc).__name__}: {exc}".split())
        tally.failures.append(f"{child.url}: {encodable(text[:300])}")
        return
    tally.updated[child.url] = child
    if sitemap is None:
        return
    tally.changed = True
    if not sitemap.capped:
        tally.read_in_full += 1
    tally.entries += sitemap.feed.entries
    tally.skipped += sitemap.feed.skipped
    tally.capped = tally.capped or sitemap.capped
    if sitemap.feed.warning and not sitemap.capped:
        tally.notes.append(f"{child.url}: {sitemap.feed.warning}")


def _read_child(
    child: Child, fetch: FetchChild, feed_url: str, max_entries: int, news_max_age_s: float
) -> tuple[Child, Sitemap | None]:
    """The child with its new validators, and its sitemap (None: unchanged since taken).

    Raises:
        FeedError: it cannot be fetched now, or is not a sitemap.
    """
    response = fetch(child)
    if response.status == 304:
        return child, None
    taken = dataclasses.replace(
        child,
        etag=response.headers.get("etag", ""),
        last_modified=response.headers.get("last-modified", ""),
        content_hash=hashlib.sha256(response.body).hexdigest()[:32],
    )
    if taken.content_hash == child.content_hash:  # validators missing or lying: same bytes
        return taken, None
    sitemap = parse_sitemap(
        response.body, feed_url, max_entries=max_entries, news_max_age_s=news_max_age_s
    )
    return taken, sitemap


def _feed(tally: _Tally, budget: int) -> ParsedFeed:
    """The entries read and one warning saying what went wrong, if anything did."""
    warnings = []
    if tally.failures:
        first = tally.failures[0]
        warnings.append(
            f"{len(tally.failures)} of {tally.tried} child sitemaps failed; first: {first}"
        )
    warnings += tally.notes
    if tally.capped:
        warnings.append(f"capped at {budget} entries (max_entries_per_poll); the rest not read")
    return ParsedFeed(
        title="", entries=tuple(tally.entries), skipped=tally.skipped, warning="; ".join(warnings)
    )
