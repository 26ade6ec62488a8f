"""A worker whose broker connection stalled stops, so that its supervisor starts a fresh one.

Celery/kombu can keep waiting on a consuming connection that will never answer again (a
black-holed network path or a hung proxy: no RST, no FIN; celery#8030, #10205): the worker
sits idle while tasks wait in the queue, for good. Reliability test F-13 reproduces it. A
thread in the worker's main process watches for "idle, nothing received, tasks waiting"
lasting ``stall_s`` and then asks Celery for a warm shutdown with exit code 70
(EX_SOFTWARE); ``newsflow run`` and compose's restart policy start the worker again. The same
holds for a worker that keeps holding the same tasks past their hard time limit plus
``stall_s`` (its pool processes ended them, but the stalled connection cannot requeue or
acknowledge them: seen in F-13, where the idle rule never fired). A warm
shutdown can itself hang on the stalled connection: after ``SHUTDOWN_GRACE_S`` the process
exits anyway (its tasks are acknowledged late: the broker or the sent-entries ledger gives
them to another worker).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

import redis
from celery.worker import state

from pipeline import keys
from pipeline.connection import connect_redis
from pipeline.errors import RedisUnavailable

log = logging.getLogger(__name__)

EXIT_STALLED = 70
"""The worker's exit code after a stall (EX_SOFTWARE): its supervisor restarts it."""
SHUTDOWN_GRACE_S = 45.0
"""How long the warm shutdown after a stall may take (Celery's soft shutdown is 30 s)."""


class StallDetector:
    """Decides, from periodic looks, when an idle worker has missed waiting tasks too long."""

    def __init__(
        self,
        stall_s: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        hold_s: float = float("inf"),
    ) -> None:
        self._stall_s = stall_s
        self._clock = clock
        self._idle_since: float | None = None
        self._hold_s = hold_s
        self._held: frozenset[str] = frozenset()
        self._held_since = 0.0

    def received(self) -> None:
        """A task message arrived: the connection works."""
        self._idle_since = None

    def stalled(self, *, queue_depth: int, busy: int, held: frozenset[str] = frozenset()) -> bool:
        """One look: tasks waiting in the queue while this worker holds none, for stall_s; or
        the same tasks ``held`` (their ids) for ``hold_s``, past any task's time limit (pool
        processes gone while the connection that would requeue them is stalled)."""
        if self._holds_too_long(held):
            return True
        if busy or not queue_depth:
            self._idle_since = None
            return False
        now = self._clock()
        if self._idle_since is None:
            self._idle_since = now
        return now - self._idle_since >= self._stall_s

    def _holds_too_long(self, held: frozenset[str]) -> bool:
        now = self._clock()
        if held != self._held:
            self._held, self._held_since = held, now
            return False
        return bool(held) and now - self._held_since >= self._hold_s


def watch_consumer(redis_url: str, detector: StallDetector, every_s: float = 10.0) -> None:
    """Look every ``every_s`` seconds until a stall, then ask Celery to stop (runs in a thread)."""
    client: redis.Redis | None = None
    while True:
        time.sleep(every_s)
        try:
            client = client or connect_redis(redis_url)
            depth = int(client.llen(keys.TASK_QUEUE))
        except (RedisUnavailable, redis.RedisError):
            client = None  # Redis itself is down: Celery reconnects on its own
            continue
        requests = [*state.active_requests, *state.reserved_requests]
        held = frozenset(str(r.id) for r in requests)
        if detector.stalled(queue_depth=depth, busy=len(requests), held=held):
            log.error(
                "no task received while %d waited in the queue: the broker connection "
                "is stalled; stopping this worker (exit %d) so that it is restarted",
                depth,
                EXIT_STALLED,
            )
            state.should_stop = EXIT_STALLED
            time.sleep(SHUTDOWN_GRACE_S)
            log.error("the warm shutdown did not end in %.0f s: exiting", SHUTDOWN_GRACE_S)
            os._exit(EXIT_STALLED)


def start_watchdog(redis_url: str, stall_s: float, *, hold_s: float) -> StallDetector:
    """Start the watching thread (daemon); the detector is told of each received task.

    ``hold_s``: how long the same tasks may be held before the worker counts as stalled
    (the hard time limit plus ``stall_s``)."""
    detector = StallDetector(stall_s, hold_s=hold_s)
    thread = threading.Thread(
        target=watch_consumer, args=(redis_url, detector), name="consumer-watchdog", daemon=True
    )
    thread.start()
    return detector
