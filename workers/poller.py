"""The poller process: polls due feeds and enqueues their new entries as Celery tasks."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

import redis
from kombu.exceptions import OperationalError

from pipeline import keys
from pipeline.errors import RedisUnavailable
from pipeline.fetch.client import Fetcher
from pipeline.fetch.politeness import HostGate, host_of
from pipeline.models import FeedEntry
from pipeline.ops.lag import LagGate
from pipeline.ops.stats import read_task_queue
from pipeline.polling.claim import claim_due, give_back
from pipeline.polling.lease import Lease
from pipeline.polling.ledger import record_sent, sweep_ledger
from pipeline.polling.poll import PollResult, poll_feed
from pipeline.polling.registry import registered_feeds, seed_feeds
from pipeline.polling.schedule import count_round, reconcile_schedule, seconds_until_due
from pipeline.settings import FeedConfig, Settings
from pipeline.streams.retention import trim_all
from workers.app import app, entry_task
from workers.metrics import (
    FEED_POLLS,
    LEDGER_RESENT,
    NEW_ENTRIES,
    ROUNDS_HELD_BACK,
    ROUNDS_HELD_BACK_LAG,
)

log = logging.getLogger(__name__)
_SWEEP_EVERY_S = 10.0
"""How often the active poller sweeps the sent-entries ledger."""
_DUE_BATCH = 1000
"""Most feeds one poller takes from the schedule per round (then its gates are asked again)."""


def enqueue_entry(entry: FeedEntry, *, ledger: redis.Redis | None = None) -> None:
    """Send one entry to the workers as its own task; returns once the broker has it."""
    enqueue_entries([entry], per_task=1, ledger=ledger)


def enqueue_entries(
    entries: Sequence[FeedEntry],
    *,
    producer: Any = None,
    per_task: int = 1,
    ledger: redis.Redis | None = None,
) -> None:
    """Send entries to the workers, ``per_task`` to a task; returns once the broker has them.

    A ``producer`` held for a whole poll saves taking one from the pool per message. With a
    ``ledger`` client the sent entries are written to the sent-entries ledger afterwards
    (pipeline.polling.ledger), so that one the broker loses is sent again.

    Raises:
        RedisUnavailable: the broker (Redis) could not be reached, even after retries.
    """
    now = time.time()
    messages = [dataclasses.replace(e, enqueued_at=now).to_message() for e in entries]
    for start in range(0, len(messages), per_task):
        name, args, task_id, argsrepr = entry_task(messages[start : start + per_task])
        try:
            app.send_task(
                name,
                args=args,
                task_id=task_id,
                argsrepr=argsrepr,  # given, so Celery does not repr the arguments itself
                queue=keys.CELERY_QUEUE,
                retry=True,
                producer=producer,
            )
        except (OperationalError, redis.RedisError, OSError) as exc:
            raise RedisUnavailable(f"broker unavailable: {exc}") from exc
    if ledger is not None:
        record_sent(ledger, messages, now)


def poll_once(
    feeds: Sequence[FeedConfig],
    *,
    client: redis.Redis,
    settings: Settings,
    lease: Lease | None = None,
    fetchers: FetcherPool | None = None,
    claims: ClaimRound | None = None,
    stop: threading.Event | None = None,
) -> list[PollResult]:
    """Poll the given feeds once each, several at a time, logging one line per feed.

    At most ``poller.concurrency`` polls run at once and ``poller.max_polls_per_host`` per
    host. With a ``lease``, it is renewed (or asked for) once a second while polls run; once
    ``stop`` is set, no new poll starts. With ``claims``, more feeds are taken from the
    schedule as threads free up (see :class:`ClaimRound`), and those taken but not started
    are given back. ``fetchers`` kept across rounds keep their connections; without, one is
    made and closed.
    """
    gate = HostGate(client, settings.fetch)
    own_fetchers = fetchers is None
    fetchers = fetchers or FetcherPool(settings)

    def poll(feed: FeedConfig) -> PollResult:
        if claims is not None and not claims.start(feed):
            return PollResult(feed_url=feed.url, status="given_back")
        with fetchers.borrow() as fetcher:
            result = poll_feed(
                feed, fetcher=fetcher, client=client, settings=settings, enqueue=enqueue, gate=gate
            )
        _log_result(feed, result)
        return result

    def enqueue(entries: Sequence[FeedEntry]) -> None:
        with app.producer_or_acquire() as producer:  # only for a poll with entries to send
            per_task = settings.poller.entries_per_task
            enqueue_entries(entries, producer=producer, per_task=per_task, ledger=client)

    renewed = [time.monotonic()]

    def keep_going() -> bool:
        if lease is not None and time.monotonic() - renewed[0] >= 1.0:
            lease.hold()  # held or not, this poller polls on; its heartbeat stays fresh
            renewed[0] = time.monotonic()
        return stop is None or not stop.is_set()

    try:
        return run_polls(
            feeds,
            poll,
            concurrency=settings.poller.concurrency,
            per_host=settings.poller.max_polls_per_host,
            keep_going=keep_going,
            refill=claims.take if claims is not None else None,
        )
    finally:
        if claims is not None:
            claims.give_back()
        if own_fetchers:
            fetchers.close()


class ClaimRound:
    """The feeds one round of this poller takes from the shared schedule, a batch at a time
    (pipeline.polling.claim): at most ``budget`` feeds, for at most ``max_s`` seconds, so that
    the loop gets back to its gates and housekeeping. A feed that waited in this process
    past half its claim is not started (its claim could run out while it polls) but given
    back, as are the feeds not started when the round ends."""

    def __init__(
        self, client: redis.Redis, ttl_s: float, *, budget: int = _DUE_BATCH, max_s: float = 5.0
    ) -> None:
        self._client = client
        self._ttl_s = ttl_s
        self._left = budget
        self._ends = time.monotonic() + max_s
        self._taken: dict[str, float] = {}
        self._unstarted: dict[str, FeedConfig] = {}
        self._lock = threading.Lock()

    def take(self, limit: int) -> list[FeedConfig]:
        """Up to ``limit`` more due feeds, none once the round's budget or time is spent."""
        if self._left <= 0 or time.monotonic() >= self._ends:
            return []
        feeds = claim_due(
            self._client, now=time.time(), ttl_s=self._ttl_s, limit=min(limit, self._left)
        )
        self._left -= len(feeds)
        taken = time.monotonic()
        with self._lock:
            for feed in feeds:
                self._taken[feed.url] = taken
                self._unstarted[feed.url] = feed
        return feeds

    def start(self, feed: FeedConfig) -> bool:
        """Whether to poll this feed now (its claim has at least half its time left)."""
        with self._lock:
            self._unstarted.pop(feed.url, None)
            fresh = time.monotonic() - self._taken.get(feed.url, 0.0) < self._ttl_s / 2
        if not fresh:
            give_back(self._client, [feed])
        return fresh

    def give_back(self) -> None:
        """Make the feeds taken and not started due again now."""
        with self._lock:
            feeds, self._unstarted = list(self._unstarted.values()), {}
        give_back(self._client, feeds)


def run_polls(
    feeds: Sequence[FeedConfig],
    poll: Callable[[FeedConfig], PollResult],
    *,
    concurrency: int,
    per_host: int,
    keep_going: Callable[[], bool],
    refill: Callable[[int], Sequence[FeedConfig]] | None = None,
) -> list[PollResult]:
    """Run ``poll`` over the feeds on ``concurrency`` threads, at most ``per_host`` per host.

    A feed whose host is busy waits without holding a thread, so other hosts go ahead.
    ``keep_going`` is asked at least once a second; once it says no, no new poll starts.
    ``refill(n)``, if given, is asked for up to ``n`` more feeds whenever a thread is free
    and few feeds wait; the polls end once it gives none and all have run.

    Raises:
        Exception: the first error ``poll`` raised (the other running polls finish first).
    """
    pending = list(feeds)
    running: dict[Future[PollResult], str] = {}
    busy: Counter[str] = Counter()
    results: list[PollResult] = []
    with ThreadPoolExecutor(concurrency, thread_name_prefix="poll") as pool:
        while True:
            if not keep_going():
                pending.clear()
                refill = None
            _start_polls(pool, poll, pending, running, busy, concurrency, per_host)
            if refill is not None and len(running) < concurrency and len(pending) < concurrency:
                more = refill(2 * concurrency - len(running) - len(pending))
                if more:
                    pending.extend(more)
                    continue
                if not pending and not running:
                    refill = None
            if not pending and not running:
                return results
            done, _ = wait(running, timeout=1.0, return_when=FIRST_COMPLETED)
            for future in done:
                busy[running.pop(future)] -= 1
                results.append(future.result())


def _start_polls(
    pool: ThreadPoolExecutor,
    poll: Callable[[FeedConfig], PollResult],
    pending: list[FeedConfig],
    running: dict[Future[PollResult], str],
    busy: Counter[str],
    concurrency: int,
    per_host: int,
) -> None:
    """Start waiting feeds, first come first, while threads and their hosts allow."""
    while pending and len(running) < concurrency:
        index = next((i for i, f in enumerate(pending) if busy[host_of(f.url)] < per_host), None)
        if index is None:
            return
        feed = pending.pop(index)
        busy[host_of(feed.url)] += 1
        running[pool.submit(poll, feed)] = host_of(feed.url)


class FetcherPool:
    """One Fetcher per polling thread (a Fetcher is not thread-safe), reused across polls."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._idle: list[Fetcher] = []
        self._all: list[Fetcher] = []
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def borrow(self) -> Iterator[Fetcher]:
        with self._lock:
            fetcher = self._idle.pop() if self._idle else self._new()
        try:
            yield fetcher
        finally:
            with self._lock:
                self._idle.append(fetcher)

    def close(self) -> None:
        for fetcher in self._all:
            fetcher.close()

    def _new(self) -> Fetcher:
        fetcher = Fetcher(self._settings.fetch)
        self._all.append(fetcher)
        return fetcher


def _log_result(feed: FeedConfig, result: PollResult) -> None:
    FEED_POLLS.labels(feed=feed.url, status=result.status).inc()
    NEW_ENTRIES.labels(feed=feed.url).inc(result.new)
    level = logging.WARNING if result.status == "error" else logging.INFO
    log.log(
        level,
        "poll feed=%s status=%s new=%d updated=%d entries=%d skipped=%d %s",
        feed.url,
        result.status,
        result.new,
        result.updated,
        result.entries,
        result.skipped,
        result.error,
    )


class HeartbeatLease(Lease):
    """The poller lease, and this process's heartbeat (``keys.poller_heartbeat``): written
    each time the loop takes, renews or asks for the lease (at least once a second while it
    runs, active or standby), and expiring with the lease's TTL once the loop stops.
    ``newsflow doctor --poller`` (the compose healthcheck) reads it."""

    def __init__(self, client: redis.Redis, key: str, ttl_s: float) -> None:
        super().__init__(client, key, ttl_s)
        self._beat_ms = max(1000, int(ttl_s * 1000))

    def hold(self) -> bool:
        held = super().hold()
        with contextlib.suppress(redis.RedisError):  # the lease call reports Redis errors
            self._client.set(
                keys.poller_heartbeat(self.owner),
                "active" if held else "standby",
                px=self._beat_ms,
            )
        return held


def run_poller(settings: Settings, client: redis.Redis, stop: threading.Event) -> None:
    """Poll due feeds until ``stop`` is set, side by side with any number of other pollers.

    Every poller takes due feeds from the shared schedule (:class:`ClaimRound`) unless a
    gate holds polling back. The poller lease only picks the one process that also does the
    housekeeping (schedule reconciliation, stream trimming, the sent-entries ledger).
    """
    lease = HeartbeatLease(client, keys.POLLER_LEASE, settings.poller.lease_ttl_s)
    seeded = seed_feeds(client, settings.feeds)
    log.info("poller %s started; %d feeds from config/ newly registered", lease.owner, seeded)
    housekeeping = Housekeeping()
    leading = held_back = False
    fetchers = FetcherPool(settings)
    lag_gate = LagGate(client, settings.poller, on_hold=ROUNDS_HELD_BACK_LAG.inc)
    try:
        while not stop.is_set():
            if lease.hold() != leading:
                leading = not leading
                log.info("poller %s is %s", lease.owner, "active" if leading else "standby")
            held_back = _hold_back(client, settings.poller.max_queued_tasks, held_back)
            if not held_back and not lag_gate.holds():  # poller.lag_groups far behind
                claims = ClaimRound(client, settings.poller.claim_ttl_s)
                poll_once(
                    (),
                    client=client,
                    settings=settings,
                    lease=lease,
                    fetchers=fetchers,
                    claims=claims,
                    stop=stop,
                )
            if leading:
                housekeeping.run(client, settings)
            stop.wait(_idle_s(client))
    finally:
        lease.release()
        with contextlib.suppress(redis.RedisError):
            client.delete(keys.poller_heartbeat(lease.owner))
        fetchers.close()


@dataclasses.dataclass
class Housekeeping:
    """What one poller (the lease holder, "active") does for all, each at its own pace."""

    next_trim: float = 0.0
    next_reconcile: float = 0.0
    next_sweep: float = 0.0

    def run(self, client: redis.Redis, settings: Settings) -> None:
        now = time.monotonic()
        if now >= self.next_reconcile:
            reconcile_schedule(client, registered_feeds(client))
            self.next_reconcile = now + 60
        if now >= self.next_trim:
            _trim(client, settings)
            self.next_trim = now + settings.trim_interval_s
        if now >= self.next_sweep:
            resend_overdue(client, settings)
            self.next_sweep = now + _SWEEP_EVERY_S
        count_round(client)


def resend_overdue(client: redis.Redis, settings: Settings) -> int:
    """Send again the entries that have no outcome twice the visibility timeout after they
    were sent (lost by the broker); only while the queue is empty, so that a backlog is not
    mistaken for a loss. Returns how many were sent again.
    """
    if read_task_queue(client, settings.poller.max_queued_tasks).depth:
        return 0
    overdue_after_s = 2 * settings.worker.visibility_timeout_s
    sweep = sweep_ledger(client, now=time.time(), overdue_after_s=overdue_after_s)
    entries = [FeedEntry.from_message(m) for m in sweep.overdue]
    if entries:
        log.warning(
            "%d entries had no outcome %d s after they were sent (lost by the broker): "
            "sending them again",
            len(entries),
            overdue_after_s,
        )
        enqueue_entries(entries)  # sweep_ledger already re-armed them in the ledger
        LEDGER_RESENT.inc(len(entries))
    return len(entries)


def _hold_back(client: redis.Redis, limit: int, was_held_back: bool) -> bool:
    """Whether to skip this round: the workers' queue holds ``limit`` tasks or more.

    Due feeds stay due, and their entries stay unseen, so they are polled once it drains.
    """
    queue = read_task_queue(client, limit)
    held_back = queue.pauses_polling
    if held_back:
        ROUNDS_HELD_BACK.inc()
    if held_back != was_held_back:
        if held_back:
            log.warning(
                "queue depth %d reached poller.max_queued_tasks (%d): polling paused",
                queue.depth,
                limit,
            )
        else:
            log.info("queue depth %d: polling resumed", queue.depth)
    return held_back


def _idle_s(client: redis.Redis) -> float:
    """How long to sleep: until the next feed is due, between 50 ms and 1 s (lease renewal)."""
    wait = seconds_until_due(client, time.time())
    return 1.0 if wait is None else min(max(wait, 0.05), 1.0)


def _trim(client: redis.Redis, settings: Settings) -> None:
    """Retention behind the consumer groups (only the poller trims: one active process)."""
    for result in trim_all(
        client, max_len=settings.stream_maxlen, max_age_s=settings.stream_max_age_s
    ):
        if result.deleted or result.held_by_groups:
            log.info(
                "trim stream=%s deleted=%d held_by_groups=%s",
                result.stream,
                result.deleted,
                result.held_by_groups,
            )
