"""Polling one feed: conditional GET, parse, enqueue new entries, remember them.

A feed is an RSS, Atom or JSON feed, or a sitemap; a sitemap index's children are polled by
:mod:`pipeline.polling.sitemap_index`, also when the index itself did not change.

An entry is marked seen only after ``enqueue`` returned, so a crash between the two
re-enqueues it (the worker's outcome key absorbs the repeat) instead of losing it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from pipeline import keys
from pipeline.connection import LuaScript, redis_errors
from pipeline.dedupe import url_id
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
from pipeline.polling.cadence import (
    Bounds,
    backoff_interval,
    jitter,
    next_interval,
    observed_interval,
    server_hint_s,
)
from pipeline.polling.feeds import ParsedFeed, encodable, http_url, parse_feed
from pipeline.polling.registry import move_feed
from pipeline.polling.schedule import schedule_poll
from pipeline.polling.sitemap_index import (
    Child,
    ChildrenRound,
    FetchChild,
    fetch_child,
    load_children,
    poll_children,
    read_index,
    save_children,
)
from pipeline.polling.sitemaps import document_kind, gunzipped, parse_sitemap
from pipeline.polling.websub import declared_hub, poll_floor_s
from pipeline.settings import FeedConfig, Settings

log = logging.getLogger(__name__)
_ENQUEUED = LuaScript(
    "pipeline.polling", "enqueued.lua", keys=("seen", "enqueued", "feed_counts"), args=("ttl",)
)
Enqueue = Callable[[Sequence[FeedEntry]], None]
"""Sends entries to the workers; returns only once the broker has them all.

Raises RedisUnavailable when the broker cannot be reached (it propagates out of
:func:`poll_feed`); any other exception it raises is the feed's error."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PollResult:
    """What one poll of one feed did."""

    feed_url: str
    status: str
    new: int = 0
    entries: int = 0
    skipped: int = 0
    updated: int = 0
    error: str = ""
    retry_after: float | None = None
    hint_s: float = 0.0
    """The shortest interval the server asks for (``<ttl>``, ``sy:``, Cache-Control)."""
    published: tuple[str | None, ...] = ()
    """Publication times of the document's entries (for the adaptive interval)."""
    overflowed: bool = False
    """Every entry of the document was new: items may have been missed since last time."""
    first: int = 0
    """Of the ``new`` entries, those whose URL the feed had not given before (an entry
    whose guid changed, or that the seen-set forgot, is not counted again): what the feed's
    ``items_seen`` counts."""
    moved_to: str = ""
    """The feed answered with a permanent redirect (301/308) to this URL, and parsed there."""


def poll_feed(
    feed: FeedConfig,
    *,
    fetcher: Fetcher,
    client: redis.Redis,
    settings: Settings,
    enqueue: Enqueue,
    gate: HostGate,
) -> PollResult:
    """Poll one feed and enqueue its new entries; record the result in the feed's state.

    Feed errors are returned as a result with status ``error``, never raised; a feed whose
    host is throttled is ``deferred``. The fetch takes a slot of the host's shared limits.
    Any other exception while polling the feed (a bug, a document nobody foresaw) is the
    feed's error too, never the poller's: it is logged with its traceback, recorded as the
    feed's ``error`` (``internal error: ...``), and the feed backs off and stays scheduled.

    Raises:
        RedisUnavailable: feed state could not be read or written, or ``enqueue`` could not
            reach the broker (the entries stay unseen: the next poll enqueues them).
    """
    state_key = keys.feed_state(feed.url)
    with redis_errors("feed state unavailable", url=feed.url):
        raw: dict[bytes, bytes] = client.hgetall(state_key)  # type: ignore[assignment]
        state = {k.decode(errors="replace"): v.decode(errors="replace") for k, v in raw.items()}
        before = dict(state)
        try:
            result = _poll(
                feed,
                state,
                fetcher=fetcher,
                client=client,
                settings=settings,
                enqueue=enqueue,
                gate=gate,
            )
            _save_state(client, state_key, state, result, feed, settings)
            if result.moved_to:
                move_feed(client, feed, result.moved_to)
                log.warning(
                    "feed %s moved for good to %s: re-registered", feed.url, result.moved_to
                )
        except _NOT_THE_FEEDS:
            raise
        except Exception as exc:  # the last resort: one feed, not the poller
            log.exception("feed %s: poll failed", feed.url)
            result = PollResult(feed_url=feed.url, status="error", error=_internal_error(exc))
            _save_failure(client, state_key, before, result, feed, settings)
    return result


_NOT_THE_FEEDS = (RedisUnavailable, redis.RedisError)
"""Errors of Redis (feed state, schedule, broker): the pipeline's, not one feed's."""


def _internal_error(exc: BaseException) -> str:
    """The feed's ``error`` for an exception nobody expected: one line, at most 300 chars."""
    text = " ".join(f"internal error: {type(exc).__name__}: {exc}".split())
    return encodable(text[:300])


def _poll(
    feed: FeedConfig,
    state: dict[str, str],
    *,
    fetcher: Fetcher,
    client: redis.Redis,
    settings: Settings,
    enqueue: Enqueue,
    gate: HostGate,
) -> PollResult:
    def fetch(child: Child) -> Response:
        return fetch_child(child, feed, fetcher=fetcher, gate=gate)

    result = _fetch(feed, state, fetcher=fetcher, gate=gate)
    if not isinstance(result, PollResult):
        result = _take_entries(
            feed, state, result, client=client, settings=settings, enqueue=enqueue, fetch=fetch
        )
    if result.status == "not_modified" and state.get("kind") == "sitemapindex":
        return _poll_children(
            feed, result, client=client, settings=settings, enqueue=enqueue, fetch=fetch
        )
    return result


def _save_failure(
    client: redis.Redis,
    state_key: str,
    state: dict[str, str],
    result: PollResult,
    feed: FeedConfig,
    settings: Settings,
) -> None:
    """Record an unexpected failure on the state as it was before the poll.

    Validators of a response whose entries may not have been enqueued are not kept. Should
    recording itself fail, the feed is still rescheduled ``max_interval_s`` from now.
    """
    try:
        _save_state(client, state_key, state, result, feed, settings)
    except _NOT_THE_FEEDS:
        raise
    except Exception:  # e.g. a state written by something else
        log.exception("feed %s: could not record its failure; rescheduled", feed.url)
        retry_at = time.time() + settings.poller.max_interval_s
        pipe = client.pipeline()
        pipe.hset(
            state_key,
            mapping={"status": "error", "error": result.error, "next_poll": str(retry_at)},
        )
        schedule_poll(pipe, feed.url, retry_at)
        pipe.execute()


def _fetch(
    feed: FeedConfig, state: dict[str, str], *, fetcher: Fetcher, gate: HostGate
) -> Response | PollResult:
    """The feed's response, or the result of a poll that ends here (304, throttled, error)."""
    try:
        with gate.slot(feed.url):
            response = fetch_feed(
                fetcher,
                feed.url,
                # No validators for a state from before documents had a "kind": one full
                # fetch tells whether it is a sitemap index, whose children a 304 would hide.
                etag=state.get("etag", "") if "kind" in state else "",
                last_modified=state.get("last_modified", "") if "kind" in state else "",
                headers=feed.headers,
                proxy=feed.proxy,
            )
    except HostThrottled as exc:
        return PollResult(feed_url=feed.url, status="deferred", retry_after=exc.retry_after)
    except UpstreamUnavailable as exc:
        if exc.status in (429, 503):
            gate.cool_down(feed.url, exc.retry_after or fetcher.settings.cooldown_s)
        return PollResult(
            feed_url=feed.url,
            status="error",
            error=f"{exc.reason}: {exc}",
            retry_after=exc.retry_after,
        )
    except (FetchTimeout, DropArticle) as exc:
        return PollResult(feed_url=feed.url, status="error", error=f"{exc.reason}: {exc}")
    if response.status == 304:
        hint = server_hint_s(response.headers, ttl_s=None, period_s=None, now=time.time())
        return PollResult(feed_url=feed.url, status="not_modified", hint_s=hint)
    return response


def _take_entries(
    feed: FeedConfig,
    state: dict[str, str],
    response: Response,
    *,
    client: redis.Redis,
    settings: Settings,
    enqueue: Enqueue,
    fetch: FetchChild,
) -> PollResult:
    body_hash = hashlib.sha256(response.body).hexdigest()[:32]
    now = time.time()
    cache_hint = server_hint_s(response.headers, ttl_s=None, period_s=None, now=now)
    polled_before = "content_hash" in state
    if "kind" in state and state.get("content_hash") == body_hash:  # same bytes, no 304
        _keep_validators(state, response)
        return PollResult(feed_url=feed.url, status="not_modified", hint_s=cache_hint)
    try:
        document = _read_document(response, feed, client=client, settings=settings, fetch=fetch)
    except FeedError as exc:  # validators kept from the last good body: no 304 for this one
        return PollResult(feed_url=feed.url, status="error", error=f"{exc.reason}: {exc}")
    parsed = document.feed
    _keep_validators(state, response)
    state["kind"] = document.kind
    hub = declared_hub(parsed, response.headers, response.final_url)
    state["hub"], state["topic"] = hub or ("", "")  # read by the WebSub subscriber
    if not polled_before and not feed.backlog:
        skipped = _skip_backlog(feed, parsed, state, body_hash, client=client)
        _save_children(client, feed.url, document.index)
        return dataclasses.replace(skipped, moved_to=_moved_to(response, feed.url))
    taken = _enqueue_new(
        parsed, feed.url, client=client, enqueue=enqueue, ttl_s=settings.dedupe_ttl_s
    )
    _save_children(client, feed.url, document.index)
    state["content_hash"] = body_hash  # only once its entries are enqueued
    if document.index is None or document.index.complete:
        _prune(client, feed.url, state, taken, settings, now)
    hint_s = max(cache_hint, min(parsed.period_s or 0.0, settings.poller.max_interval_s))
    return dataclasses.replace(
        _taken_result(feed.url, parsed, taken, hint_s=hint_s, polled_before=polled_before),
        moved_to=_moved_to(response, feed.url),
    )


def _taken_result(
    feed_url: str, parsed: ParsedFeed, taken: _Taken, *, hint_s: float, polled_before: bool
) -> PollResult:
    """The result of a poll whose entries were taken (enqueued, or marked seen)."""
    return PollResult(
        feed_url=feed_url,
        status="warning" if parsed.warning else "ok",
        new=taken.new,
        first=taken.first,
        updated=taken.updated,
        entries=len(parsed.entries),
        skipped=parsed.skipped,
        error=parsed.warning,
        hint_s=hint_s,
        published=tuple(e.published_at for e in parsed.entries),
        overflowed=polled_before and taken.new > 1 and taken.new == len(parsed.entries),
    )


@dataclass(frozen=True, slots=True)
class _Document:
    """A document read: a feed, a sitemap, or a sitemap index (with its children read)."""

    kind: str
    feed: ParsedFeed
    index: ChildrenRound | None = None


def _read_document(
    response: Response,
    feed: FeedConfig,
    *,
    client: redis.Redis,
    settings: Settings,
    fetch: FetchChild,
) -> _Document:
    """Parse the body as what its root element says it is (and read an index's children).

    Raises:
        FeedError: not a feed nor a sitemap, or every child of an index failed.
    """
    poller = settings.poller
    kind = document_kind(response.body)
    if kind in ("sitemap", "sitemapindex"):
        sitemap = parse_sitemap(
            response.body,
            feed.url,
            max_entries=poller.max_entries_per_poll,
            news_max_age_s=poller.news_max_age_s,
        )
        if kind == "sitemap":
            return _Document(kind=kind, feed=sitemap.feed)
        index = read_index(sitemap, feed.url, client=client, poller=poller, fetch=fetch)
        return _Document(kind=kind, feed=index.feed, index=index)
    parsed = parse_feed(
        gunzipped(response.body, feed.url, limit=settings.fetch.max_feed_bytes),
        feed.url,
        max_entries=poller.max_entries_per_poll,
        headers=response.headers,
        base_url=response.final_url,
    )
    return _Document(kind="feed", feed=parsed)


def _save_children(client: redis.Redis, feed_url: str, index: ChildrenRound | None) -> None:
    if index is not None:
        save_children(client, feed_url, index.children)


def _poll_children(
    feed: FeedConfig,
    unchanged: PollResult,
    *,
    client: redis.Redis,
    settings: Settings,
    enqueue: Enqueue,
    fetch: FetchChild,
) -> PollResult:
    """An index that did not change: poll the children it listed, on their own validators.

    ``not_modified`` if none of them changed either (nothing is enqueued then).
    """
    known = tuple(load_children(client, feed.url).values())
    try:
        index = poll_children(known, feed_url=feed.url, poller=settings.poller, fetch=fetch)
    except FeedError as exc:
        error = f"{exc.reason}: {exc}"
        return dataclasses.replace(unchanged, status="error", error=error)
    if not index.changed and not index.feed.warning:
        save_children(client, feed.url, index.children)  # validators of same bytes, if new
        return unchanged
    taken = _enqueue_new(
        index.feed, feed.url, client=client, enqueue=enqueue, ttl_s=settings.dedupe_ttl_s
    )
    save_children(client, feed.url, index.children)
    return _taken_result(feed.url, index.feed, taken, hint_s=unchanged.hint_s, polled_before=True)


def _keep_validators(state: dict[str, str], response: Response) -> None:
    """Remember the response's validators: only for a body that parsed (else a server
    answering 304 to them would make a broken feed look healthy from its next poll on)."""
    state["etag"] = response.headers.get("etag", "")
    state["last_modified"] = response.headers.get("last-modified", "")


def _moved_to(response: Response, feed_url: str) -> str:
    """Where the feed moved for good (a leading run of 301/308 redirects), if it did."""
    moved = http_url(response.permanent_url) if response.permanent_url else None
    return moved if moved and moved != feed_url else ""


def ingest_push(
    feed: FeedConfig,
    body: bytes,
    headers: Mapping[str, str],
    *,
    client: redis.Redis,
    settings: Settings,
    enqueue: Enqueue,
) -> PollResult:
    """Take a feed document pushed to us (WebSub) as if a poll had fetched it.

    The same parser, seen-set and enqueue path as a poll, so an entry both pushed and polled
    is enqueued once. The feed's validators are left alone (the next poll still asks the
    server what changed since its own last fetch); the result is recorded as ``pushed``.

    Raises:
        RedisUnavailable: feed state could not be read or written, or the broker is down.
    """
    state_key = keys.feed_state(feed.url)
    with redis_errors("feed state unavailable", url=feed.url):
        try:
            parsed = parse_feed(
                body,
                feed.url,
                max_entries=settings.poller.max_entries_per_poll,
                headers=headers,
                base_url=feed.url,
            )
        except FeedError as exc:
            return PollResult(feed_url=feed.url, status="error", error=f"{exc.reason}: {exc}")
        taken = _enqueue_new(
            parsed, feed.url, client=client, enqueue=enqueue, ttl_s=settings.dedupe_ttl_s
        )
        pipe = client.pipeline()
        pipe.hset(state_key, mapping={"last_push": str(time.time()), "last_push_new": taken.new})
        pipe.hincrby(state_key, "items_seen", taken.first)
        pipe.execute()
    taken_result = _taken_result(feed.url, parsed, taken, hint_s=0.0, polled_before=False)
    return dataclasses.replace(taken_result, status="pushed")


def _skip_backlog(
    feed: FeedConfig,
    parsed: ParsedFeed,
    state: dict[str, str],
    body_hash: str,
    *,
    client: redis.Redis,
) -> PollResult:
    """First poll of a feed with ``backlog = false``: remember its entries, enqueue none."""
    now = str(int(time.time()))
    marks = {
        key: _seen_value(e, now)
        for e, key in zip(parsed.entries, entry_keys(parsed.entries), strict=True)
    }
    if marks:
        client.hset(keys.feed_seen(feed.url), mapping=marks)  # type: ignore[arg-type]
    state["content_hash"] = body_hash
    return PollResult(
        feed_url=feed.url,
        status="ok",
        entries=len(parsed.entries),
        skipped=parsed.skipped,
        error=f"backlog of {len(marks)} entries skipped (backlog = false)",
        published=tuple(e.published_at for e in parsed.entries),
    )


def _prune(
    client: redis.Redis,
    feed_url: str,
    state: dict[str, str],
    taken: _Taken,
    settings: Settings,
    now: float,
) -> None:
    """Prune the feed's seen-set once a day, and whenever it holds more than three times
    the document's own fields (see :func:`prune_seen`): it stays bounded by the document's
    size, not by how much the feed published in ``seen_ttl_s``."""
    current = set(taken.fields)
    daily = now - float(state.get("pruned_at") or 0) >= 86400
    if not daily and taken.seen_fields <= _SEEN_BOUND * len(current):
        return
    pruned = prune_seen(
        client,
        feed_url,
        current,
        older_than=now - settings.poller.seen_ttl_s,
        keep=(_SEEN_BOUND - 1) * len(current),
    )
    state["pruned_at"] = str(now)
    if pruned:
        log.info("feed %s: forgot %d entries that left the feed", feed_url, pruned)


def entry_keys(entries: Sequence[FeedEntry]) -> list[str]:
    """The seen-set key of each entry: its guid, else its canonical link, else title+date.

    A guid that several entries of the same document share is not trusted: those entries
    are keyed by their links instead.
    """
    guids = Counter(e.guid for e in entries if e.guid)
    return [entry_key(e, trust_guid=guids[e.guid] == 1) for e in entries]


def entry_key(entry: FeedEntry, *, trust_guid: bool = True) -> str:
    """One entry's key in its feed's seen-set (see :func:`entry_keys`)."""
    if entry.guid and trust_guid:
        return "g" + keys.digest(entry.guid)[:31]
    if entry.url:
        return url_id(entry.url)
    return "t" + keys.digest(f"{entry.title}|{entry.published_at or ''}")[:31]


@dataclass(frozen=True, slots=True)
class _Taken:
    """What enqueueing a document's entries did."""

    new: int
    first: int
    updated: int
    fields: list[str]
    """The document's entries' fields in the seen-set (entry keys and URL fields)."""
    seen_fields: int = 0
    """Fields in the feed's seen-set before this poll's new ones were marked."""


def _enqueue_new(
    parsed: ParsedFeed, feed_url: str, *, client: redis.Redis, enqueue: Enqueue, ttl_s: int
) -> _Taken:
    """Enqueue unseen entries, and seen ones whose feed ``updated`` time moved on.

    The seen-set remembers each entry's
    last ``updated`` time and when it was first seen. Every entry is enqueued before any is
    marked (one round trip for all), so a crash in between re-enqueues and never loses.
    """
    seen_key = keys.feed_seen(feed_url)
    entry_keys_ = entry_keys(parsed.entries)
    already: list[Any] = []
    seen_fields = 0
    if entry_keys_:
        pipe = client.pipeline(transaction=False)
        pipe.hmget(seen_key, entry_keys_)
        pipe.hlen(seen_key)
        already, seen_fields = pipe.execute()
    now = str(int(time.time()))
    fresh: dict[str, FeedEntry] = {}
    changed: dict[str, tuple[FeedEntry, str]] = {}
    dated: dict[str, str] = {}  # entries that carry an updated time for the first time
    for entry, key, seen in zip(parsed.entries, entry_keys_, already, strict=True):
        if key in fresh or key in changed or key in dated:  # twice in one document
            continue
        if seen is None:
            fresh[key] = entry
            continue
        last, _, first_seen = seen.decode().partition("|")
        mark = _seen_value(entry, first_seen or now)
        if _moved_on(_marker(entry), last):
            changed[key] = (dataclasses.replace(entry, update=True), mark)
        elif last == "-" and _marker(entry) != "-":
            dated[key] = mark
    if fresh or changed:
        enqueue([*fresh.values(), *(e for e, _ in changed.values())])
    if changed or dated:
        marks = dated | {k: m for k, (_, m) in changed.items()}
        client.hset(seen_key, mapping=marks)  # type: ignore[arg-type]
    new, first = _mark_enqueued(client, feed_url, fresh, now, ttl_s)
    fields = entry_keys_ + [url_field(e.url) for e in parsed.entries]
    return _Taken(
        new=new, first=first, updated=len(changed), fields=fields, seen_fields=seen_fields + 2 * new
    )


def _mark_enqueued(
    client: redis.Redis, feed_url: str, fresh: dict[str, FeedEntry], now: str, ttl_s: int
) -> tuple[int, int]:
    """Mark new entries seen and count their URLs as enqueued (once each), in one call.

    Returns (entries new to the feed, URLs new to the feed)."""
    if not fresh:
        return 0, 0
    script_keys = {
        "seen": keys.feed_seen(feed_url),
        "enqueued": keys.ENQUEUED_COUNT,
        "feed_counts": keys.feed_outcomes(feed_url),
    }
    markers = [keys.enqueued_marker(url_id(entry.url)) for entry in fresh.values()]
    seen = [
        item
        for key, entry in fresh.items()
        for item in (key, _seen_value(entry, now), url_field(entry.url))
    ]
    new, first = _ENQUEUED(client, script_keys, {"ttl": ttl_s}, more_keys=markers, more_args=seen)
    return int(new), int(first)


def url_field(url: str) -> str:
    """The seen-set field of a URL the feed gave (``u`` + its id): counts it once in
    ``items_seen`` whatever guids it comes under."""
    return "u" + url_id(url)


def _marker(entry: FeedEntry) -> str:
    """The entry's ``updated`` time as the seen-set keeps it ("-": the feed gives none)."""
    return entry.updated_at or "-"


def _seen_value(entry: FeedEntry, first_seen: str) -> str:
    """An entry's seen-set value: ``<updated marker>|<first seen>`` (see :func:`_first_seen`)."""
    return f"{_marker(entry)}|{first_seen}"


def _moved_on(marker: str, seen: str) -> bool:
    """True when the entry now carries a later ``updated`` time than when last enqueued.

    An entry that had no time and now has one is not an update (a feed that starts dating
    its entries, or a date the parser reads now and could not before): its time is only
    remembered, for the next change to be measured from."""
    return "T" in marker and "T" in seen and marker > seen


_SEEN_BOUND = 3
"""A seen-set is pruned once it holds this many times its document's fields."""


def prune_seen(
    client: redis.Redis,
    feed_url: str,
    current: set[str],
    *,
    older_than: float,
    keep: int | None = None,
) -> int:
    """Forget entries that left the feed and were first seen before ``older_than``, and
    beyond the ``keep`` most recently first seen of those that left (all kept if None).

    Keeps the seen-set of an active feed from growing for ever. An entry forgotten that
    comes back is enqueued again, and the workers' outcome key for its URL absorbs it.
    Returns how many went.
    """
    seen_key = keys.feed_seen(feed_url)
    departed = sorted(
        (
            (_first_seen(value), field)
            for field, value in client.hscan_iter(seen_key, count=1000)
            if field.decode() not in current
        ),
        reverse=True,
    )
    kept = len(departed) if keep is None else max(keep - len(current), 0)
    stale = [field for i, (first, field) in enumerate(departed) if first < older_than or i >= kept]
    for start in range(0, len(stale), 1000):
        client.hdel(seen_key, *stale[start : start + 1000])
    return len(stale)


def _first_seen(value: bytes) -> float:
    _, _, first = value.decode().partition("|")
    try:
        return float(first)
    except ValueError:  # written before first-seen times were kept
        return 0.0


def _save_state(
    client: redis.Redis,
    state_key: str,
    state: dict[str, str],
    result: PollResult,
    feed: FeedConfig,
    settings: Settings,
) -> None:
    now = time.time()
    failed = result.status == "error"
    streak = int(state.get("error_streak", "0"))
    streak = streak + 1 if failed else (streak if result.status == "deferred" else 0)
    bounds = _bounds(settings)
    normal = _normal_interval(feed, state, result, bounds, now, adaptive=settings.poller.adaptive)
    delay = _delay(bounds, result, normal, streak)
    if not streak and result.status != "deferred":  # pushed to us: polling is the safety net
        delay = max(delay, poll_floor_s(client, feed.url, settings.websub, now=now))
    state.update(
        url=feed.url,
        last_poll=str(now),
        status=result.status,
        error=encodable(result.error),
        error_streak=str(streak),
        interval_s=f"{normal:.0f}",
        next_poll=str(now + delay),
        items_seen=str(int(state.get("items_seen", "0")) + result.first),
    )
    pipe = client.pipeline()
    pipe.hset(state_key, mapping=dict(state))  # type: ignore[arg-type]
    pipe.expire(keys.feed_seen(feed.url), settings.poller.seen_ttl_s)
    schedule_poll(pipe, feed.url, now + delay)
    pipe.execute()


def _bounds(settings: Settings) -> Bounds:
    poller = settings.poller
    return Bounds(
        default_s=poller.interval_s, min_s=poller.min_interval_s, max_s=poller.max_interval_s
    )


def _normal_interval(
    feed: FeedConfig,
    state: dict[str, str],
    result: PollResult,
    bounds: Bounds,
    now: float,
    *,
    adaptive: bool,
) -> float:
    """The feed's interval when all is well: its override, else adaptive (or the default)."""
    if feed.interval_s:
        return float(feed.interval_s)
    if adaptive:
        previous = float(state.get("interval_s") or 0) or None
        observed = observed_interval(result.published, now)
    else:
        previous, observed = bounds.default_s, None
    return next_interval(
        bounds,
        observed_s=observed,
        previous_s=previous,
        overflowed=result.overflowed,
        hint_s=result.hint_s,
    )


def _delay(bounds: Bounds, result: PollResult, normal: float, streak: int) -> float:
    """Seconds until the next poll: jittered normal interval, backoff, or ``Retry-After``."""
    if result.status == "deferred":
        return result.retry_after or 1.0
    delay = backoff_interval(bounds, normal_s=normal, streak=streak) if streak else jitter(normal)
    return max(delay, result.retry_after or 0.0)
