"""Prometheus metrics of workers and poller; the only module that imports prometheus_client.

Workers run prefork: every process writes its samples to files in ``PROMETHEUS_MULTIPROC_DIR``
(set by ``newsflow worker`` before anything imports prometheus_client) and the worker's main
process serves them all, summed, on ``metrics.worker_port``. The poller serves its own
registry on ``metrics.poller_port``, including gauges read from Redis at scrape time
(queue depth, stream lengths, consumer-group lag and pending, outcome totals).

The endpoints have no authentication: they listen on ``metrics.bind``, loopback unless set
(docker-compose.yml sets 0.0.0.0 on its private network, for Prometheus). The ``host`` label
of the fetch counter is capped at ``metrics.max_host_labels`` values (see HostLabels).
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import redis
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from pipeline.errors import RedisUnavailable
from pipeline.ops.drift import live_alarms
from pipeline.ops.stats import OUTCOMES, collect_stats
from pipeline.process import Hooks
from pipeline.settings import MetricsSettings, Settings

log = logging.getLogger(__name__)
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

ARTICLES = Counter(
    "newsflow_articles_total", "Entries by terminal outcome and reason", ["outcome", "reason"]
)
STAGE_SECONDS = Histogram(
    "newsflow_stage_seconds",
    "Time spent in each pipeline stage",
    ["stage"],
    buckets=_LATENCY_BUCKETS,
)
STAGE_CPU_SECONDS = Counter(
    "newsflow_stage_cpu_seconds",
    "CPU time of the worker process in each pipeline stage (the rest of its time is waiting)",
    ["stage"],
)
END_TO_END_SECONDS = Histogram(
    "newsflow_end_to_end_seconds",
    "From the poller enqueueing an entry to its outcome",
    buckets=(*_LATENCY_BUCKETS, 600, 1800, 3600),
)
FETCHES = Counter(
    "newsflow_fetches_total", "Page fetches by host and HTTP status or error", ["host", "status"]
)
FEED_POLLS = Counter(
    "newsflow_feed_polls_total", "Feed polls by feed and result", ["feed", "status"]
)
NEW_ENTRIES = Counter("newsflow_feed_new_entries_total", "New entries enqueued by feed", ["feed"])
ROUNDS_HELD_BACK = Counter(
    "newsflow_poll_rounds_held_back_total",
    "Poll rounds skipped because the workers' queue was at poller.max_queued_tasks",
)
ARCHIVE_BYTES = Counter(
    "newsflow_archive_bytes_total", "Compressed bytes written to the raw page archive (WARC)"
)
ARCHIVE_FILES = Counter("newsflow_archive_files_total", "Raw page archive files started")
ARCHIVE_FAILURES = Counter(
    "newsflow_archive_failures_total",
    "Pages (or archive files) that could not be archived; their articles went on",
)
ROUNDS_HELD_BACK_LAG = Counter(
    "newsflow_poll_rounds_lag_held_back_total",
    "Poll rounds skipped because a group of poller.lag_groups lagged poller.max_group_lag",
)
LEDGER_RESENT = Counter(
    "newsflow_entries_resent_total",
    "Entries sent again because they had no outcome 2 x visibility_timeout_s after sending",
)

# Gauges the poller reads from Redis at scrape time (names listed for the dashboard test).
REDIS_GAUGES = (
    "newsflow_queue_depth",
    "newsflow_stream_length",
    "newsflow_group_pending",
    "newsflow_group_lag",
    "newsflow_enqueued",
    "newsflow_outcomes",
    "newsflow_in_flight",
    "newsflow_source_drift",
)


OTHER_HOST = "other"
"""The ``host`` label value of every host past ``metrics.max_host_labels``."""
HOST_LABELS_FILE = "host-labels.txt"


class HostLabels:
    """The bounded values of the ``host`` label: the first ``limit`` distinct hosts keep
    their own, every later one is counted as ``other``.

    Prometheus keeps a series per label value, and workers fetch whatever hosts the feeds
    link to: unbounded, the label would grow the worker, the scrape and Prometheus without
    end. A counter cannot move from its own series to ``other`` later (both would jump), so
    the hosts that keep a series are the first ones seen. With ``directory`` (the worker's
    ``PROMETHEUS_MULTIPROC_DIR``) the admitted hosts are shared, under a file lock, by all
    the worker's processes, recycled ones included: the cap holds for the whole worker.
    """

    MAX_REMEMBERED_OTHERS = 10_000

    def __init__(self, limit: int, directory: str | Path | None = None) -> None:
        self.limit = limit
        self._path = Path(directory) / HOST_LABELS_FILE if directory else None
        self._admitted: set[str] = set()
        self._others: set[str] = set()

    def __call__(self, host: str) -> str:
        if host in self._admitted:
            return host
        if host in self._others or "\n" in host:
            return OTHER_HOST
        if len(self._admitted) < self.limit or self._path is not None:
            self._admit(host)
        if host in self._admitted:
            return host
        if len(self._others) >= self.MAX_REMEMBERED_OTHERS:
            self._others.clear()
        self._others.add(host)
        return OTHER_HOST

    def _admit(self, host: str) -> None:
        if self._path is None:
            self._admitted.add(host)
            return
        try:
            with self._path.open("a+", encoding="utf-8") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)  # released when the file closes
                fh.seek(0)
                shared = {line.rstrip("\n") for line in fh if line.strip()}
                if host not in shared and len(shared) < self.limit:
                    fh.write(host + "\n")
                    shared.add(host)
        except OSError as exc:  # the folder is gone: go on with this process's view
            log.warning("metrics: host labels file: %s", exc)
            self._path = None
            if len(self._admitted) < self.limit:
                self._admitted.add(host)
            return
        self._admitted = shared


_host_labels = HostLabels(MetricsSettings().max_host_labels)


def configure_host_labels(limit: int) -> None:
    """Cap the ``host`` label of this process (and of the processes it forks later)."""
    global _host_labels
    _host_labels = HostLabels(limit, os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class PrometheusHooks(Hooks):
    """Pipeline hooks that record stage latency and fetch results."""

    def stage(self, name: str, seconds: float, cpu_seconds: float) -> None:
        STAGE_SECONDS.labels(stage=name).observe(seconds)
        STAGE_CPU_SECONDS.labels(stage=name).inc(cpu_seconds)

    def fetched(self, host: str, status: str) -> None:
        FETCHES.labels(host=_host_labels(host), status=status).inc()

    def archived(self, nbytes: int, new_files: int) -> None:
        ARCHIVE_BYTES.inc(nbytes)
        if new_files:
            ARCHIVE_FILES.inc(new_files)

    def archive_failed(self) -> None:
        ARCHIVE_FAILURES.inc()


def record_outcome(outcome: str, reason: str, enqueued_at: float | None, now: float) -> None:
    """Count one terminal outcome (``already`` is not one) and its end-to-end latency."""
    if outcome == "already":
        return
    ARTICLES.labels(outcome=outcome, reason=reason).inc()
    if enqueued_at is not None:
        END_TO_END_SECONDS.observe(max(0.0, now - enqueued_at))


def serve_worker_metrics(port: int, settings: MetricsSettings | None = None) -> None:
    """Serve every process's samples of this worker on ``port`` (0: don't), at
    ``metrics.bind``; cap the ``host`` label for the pool processes forked after this.

    ``settings`` defaults to this process's (``workers.resources.settings()``).
    """
    if settings is None:
        from workers import resources

        settings = resources.settings().metrics
    configure_host_labels(settings.max_host_labels)
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    _serve(port, settings.bind, registry)


def serve_poller_metrics(port: int, client: redis.Redis, settings: Settings) -> None:
    """Serve the poller's metrics plus Redis-backed gauges on ``port`` (0: don't), at
    ``metrics.bind``."""
    from prometheus_client import REGISTRY

    configure_host_labels(settings.metrics.max_host_labels)
    REGISTRY.register(RedisStateCollector(client, settings))
    _serve(port, settings.metrics.bind, REGISTRY)


def forget_process(pid: int) -> None:
    """A pool process exited: drop its live gauges (counters stay summed)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        mark_process_dead(pid)  # type: ignore[no-untyped-call]


def _serve(port: int, bind: str, registry: CollectorRegistry) -> None:
    if not port:
        return
    address = f"[{bind}]" if ":" in bind else bind
    try:
        start_http_server(port, addr=bind, registry=registry)
    except OSError as exc:
        log.warning("metrics disabled: cannot listen on %s:%d: %s", address, port, exc)
        return
    log.info("metrics on http://%s:%d/metrics", address, port)


class RedisStateCollector(Collector):
    """Gauges computed from Redis when Prometheus scrapes."""

    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self._client = client
        self._settings = settings

    def collect(self) -> Iterator[Metric]:
        try:
            stats = collect_stats(self._client, self._settings.feeds)
        except RedisUnavailable as exc:
            log.warning("metrics: %s", exc)
            return
        yield _gauge("newsflow_queue_depth", "Tasks waiting in the broker queue", stats.queue_depth)
        streams = GaugeMetricFamily(
            "newsflow_stream_length", "Entries in each stream", labels=["stream"]
        )
        for name, length in stats.streams.items():
            streams.add_metric([name], length)
        yield streams
        yield from _group_gauges(stats.groups)
        yield _gauge("newsflow_enqueued", "Distinct entries ever enqueued", stats.enqueued)
        outcomes = GaugeMetricFamily(
            "newsflow_outcomes", "Recorded outcomes (all time)", labels=["outcome"]
        )
        for name in OUTCOMES:
            outcomes.add_metric([name], stats.outcomes.get(name, 0))
        yield outcomes
        yield _gauge(
            "newsflow_in_flight", "Enqueued entries without an outcome yet", stats.in_flight
        )
        yield _drift_gauge(self._client)


def _drift_gauge(client: redis.Redis) -> Metric:
    drift = GaugeMetricFamily(
        "newsflow_source_drift",
        "1 while a source's latest window moved beyond a threshold against its own baseline",
        labels=["source", "signal"],
    )
    try:
        alarms = live_alarms(client)
    except RedisUnavailable as exc:
        log.warning("metrics: %s", exc)
        alarms = {}
    for alarm in alarms.values():
        drift.add_metric([alarm.source, alarm.signal], 1)
    return drift


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _group_gauges(groups: list[dict[str, object]]) -> Iterator[Metric]:
    pending = GaugeMetricFamily(
        "newsflow_group_pending", "Delivered, not acknowledged", labels=["group"]
    )
    lag = GaugeMetricFamily(
        "newsflow_group_lag", "Entries not yet delivered to the group", labels=["group"]
    )
    for group in groups:
        pending.add_metric([str(group["name"])], float(str(group["pending"])))
        if group.get("lag") is not None:
            lag.add_metric([str(group["name"])], float(str(group["lag"])))
    yield pending
    yield lag
