"""``newsflow bench poll``: K real ``newsflow poller`` processes over N local feeds.

Starts a private redis-server and the feed site (:mod:`bench.poll_site`, its own process),
registers N feeds (``backlog = false``: the first poll remembers, enqueues nothing), starts K
pollers and runs rounds, each by making a set of feeds due at once and waiting until every
one of them is scheduled again:

- ``first``: every feed, never polled (full fetch and parse);
- ``unchanged``: the feeds whose document never changes (a conditional GET, a 304);
- ``new``: the feeds with ``M`` new entries (fetch, parse, enqueue);
- ``mixed``: every feed, after new entries appeared (the throughput figure).

CPU is read per process with psutil; Redis commands from ``INFO commandstats``; Redis bytes
per feed with ``MEMORY USAGE``. With K > 1, the same rounds run first with one poller, so
that the K/1 ratios come from one run on one machine under the same load.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import psutil
import redis

from bench.poll_site import feed_kind, feed_path
from bench.processes import stop_processes, tree_cpu
from bench.redis_usage import command_calls
from pipeline import keys
from pipeline.local.redis_server import RedisServer, start_redis
from pipeline.settings import FeedConfig

ROUNDS = ("first", "unchanged", "new", "mixed")
CLAIM_MARGIN_S = 150.0
"""A feed counts as polled once its next poll is this far off: beyond any claim lease of
the bench (60 s), below any interval a poll sets (at least 270 s: 300 s less jitter)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PollBenchOptions:
    feeds: int = 10_000
    pollers: int = 1
    new_per_feed: int = 10
    concurrency: int = 8
    timeout_s: float = 900.0


@dataclass
class _Run:
    server: RedisServer
    client: redis.Redis
    base_url: str
    site: subprocess.Popen[bytes]
    pollers: list[subprocess.Popen[bytes]]
    urls: list[str]


def run_bench(options: PollBenchOptions) -> dict[str, Any]:
    """Run the poll bench with 1 poller and, if asked, K; the report (ratios K/1)."""
    load_before = os.getloadavg()
    counts = sorted({1, options.pollers})
    runs = {k: _run_once(options, k) for k in counts}
    report: dict[str, Any] = {
        "feeds": options.feeds,
        "new_per_feed": options.new_per_feed,
        "mix": _mix(options.feeds),
        "cpus": psutil.cpu_count(),
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
        **{f"pollers_{k}": run for k, run in runs.items()},
    }
    if options.pollers > 1:
        one, many = runs[1], runs[options.pollers]
        report[f"ratio_{options.pollers}_to_1"] = {
            name: round(many[name]["polls_per_s"] / max(one[name]["polls_per_s"], 1e-9), 2)
            for name in ROUNDS
        }
    return report


def _mix(feeds: int) -> dict[str, int]:
    kinds = [feed_kind(i) for i in range(feeds)]
    return {kind: kinds.count(kind) for kind in ("unchanged", "new", "error")}


def _run_once(options: PollBenchOptions, pollers: int) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="newsflow-bench-poll-") as tmp_name,
        _processes(options, pollers, Path(tmp_name)) as run,
    ):
        rounds = {name: _round(run, options, name) for name in ROUNDS}
        return {**rounds, "redis_bytes_per_feed": _bytes_per_feed(run)}


@contextlib.contextmanager
def _processes(options: PollBenchOptions, pollers: int, tmp: Path) -> Iterator[_Run]:
    with contextlib.ExitStack() as cleanup:
        server = start_redis(tmp / "redis", persistent=False)
        cleanup.callback(server.stop)
        site, base_url = _start_site(options.new_per_feed)
        cleanup.callback(stop_processes, [site])
        client = redis.Redis(port=server.port)
        cleanup.callback(client.close)
        urls = [base_url + feed_path(i) for i in range(options.feeds)]
        _register(client, urls)
        procs = [_start_poller(server, tmp, options) for _ in range(pollers)]
        cleanup.callback(stop_processes, procs)
        _wait_pollers(client, pollers, options.timeout_s)
        yield _Run(server, client, base_url, site, procs, urls)


def _register(client: redis.Redis, urls: Sequence[str]) -> None:
    """Register the feeds as ``newsflow feeds add`` would, none due yet."""
    far = time.time() + 365 * 86400
    pipe = client.pipeline(transaction=False)
    for url in urls:
        feed = FeedConfig(url=url, backlog=False)
        pipe.hset(keys.FEED_REGISTRY, url, msgspec.json.encode(feed))
        pipe.zadd(keys.FEED_SCHEDULE, {url: far})
    pipe.execute()


def _start_site(new_per_feed: int) -> tuple[subprocess.Popen[bytes], str]:
    argv = [sys.executable, "-m", "bench.poll_site", str(new_per_feed)]
    site = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert site.stdout is not None
    with site.stdout:
        port = int(site.stdout.readline() or b"0")
    if not port:
        stop_processes([site])
        raise RuntimeError("the bench feed site did not start")
    return site, f"http://127.0.0.1:{port}"


def _start_poller(
    server: RedisServer, tmp: Path, options: PollBenchOptions
) -> subprocess.Popen[bytes]:
    config = tmp / "config"
    config.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}
    env.update(
        NEWSFLOW_REDIS_URL=server.url,
        NEWSFLOW_CONFIG_DIR=str(config),
        NEWSFLOW_FETCH_ALLOW="127.0.0.0/8",
        NEWSFLOW_FETCH_RATE_PER_HOST="1000000",
        NEWSFLOW_FETCH_BURST_PER_HOST="1000",
        NEWSFLOW_FETCH_MAX_CONCURRENT_PER_HOST="1000",
        NEWSFLOW_FETCH_ROBOTS="false",
        NEWSFLOW_POLLER_CONCURRENCY=str(options.concurrency),
        NEWSFLOW_POLLER_MAX_POLLS_PER_HOST=str(options.concurrency),
        NEWSFLOW_POLLER_MAX_QUEUED_TASKS="1000000000",
        NEWSFLOW_POLLER_CLAIM_TTL_S="60",
        NEWSFLOW_METRICS_POLLER_PORT="0",
        NEWSFLOW_LOG_LEVEL="INFO",
    )
    argv = [sys.executable, "-m", "workers.cli.main", "poller"]
    log = os.environ.get("BENCH_POLLER_LOG")  # a file to read when a round stalls
    err = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - the child keeps it
    return subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=err, stderr=err)


def _wait_pollers(client: redis.Redis, pollers: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        beats = list(client.scan_iter(match=keys.POLLER_HEARTBEAT_PREFIX + "*", count=1000))
        if len(beats) >= pollers:
            return
        time.sleep(0.1)
    raise RuntimeError("the pollers did not start")


def _round_feeds(run: _Run, name: str) -> list[str]:
    if name in ("first", "mixed"):
        return run.urls
    kind = "unchanged" if name == "unchanged" else "new"
    return [url for i, url in enumerate(run.urls) if feed_kind(i) == kind]


def _round(run: _Run, options: PollBenchOptions, name: str) -> dict[str, Any]:
    """Make this round's feeds due at once; figures once each is scheduled again."""
    if name in ("new", "mixed"):
        _post(f"{run.base_url}/_bench/round")
    urls = _round_feeds(run, name)
    pids = _pids(run)
    cpu_before = _cpu(pids)
    commands_before = command_calls(run.client)
    enqueued_before = int(run.client.get(keys.ENQUEUED_COUNT) or 0)
    psutil.cpu_percent()  # starts the machine-wide measurement
    start = time.time()
    run.client.zadd(keys.FEED_SCHEDULE, dict.fromkeys(urls, 0))
    _await_polled(run.client, urls, start + CLAIM_MARGIN_S, options.timeout_s)
    wall = time.time() - start
    machine = psutil.cpu_percent()
    cpu = {k: v - cpu_before[k] for k, v in _cpu(pids).items()}
    enqueued = int(run.client.get(keys.ENQUEUED_COUNT) or 0) - enqueued_before
    run.client.delete(keys.TASK_QUEUE)  # no workers: keep the queue from growing
    return _round_figures(urls, wall, cpu, enqueued, machine, run, commands_before)


def _round_figures(
    urls: Sequence[str],
    wall: float,
    cpu: dict[str, float],
    enqueued: int,
    machine_percent: float,
    run: _Run,
    commands_before: dict[str, tuple[int, int]],
) -> dict[str, Any]:
    polls = len(urls)
    calls = command_calls(run.client)
    commands = sum(c - commands_before.get(n, (0, 0))[0] for n, (c, _) in calls.items())
    usec = sum(u - commands_before.get(n, (0, 0))[1] for n, (_, u) in calls.items())
    poller_cpu = cpu["pollers"]
    return {
        "polls": polls,
        "wall_s": round(wall, 2),
        "polls_per_s": round(polls / wall, 1),
        "poller_cpu_s": round(poller_cpu, 2),
        "polls_per_poller_cpu_s": round(polls / max(poller_cpu, 1e-9), 1),
        "cpu_ms_per_poll": round(1000 * poller_cpu / polls, 3),
        "entries_enqueued": enqueued,
        "cpu_ms_per_enqueued_entry": round(1000 * poller_cpu / enqueued, 3) if enqueued else None,
        "redis_commands_per_poll": round(commands / polls, 2),
        "redis_usec_per_poll": round(usec / polls, 1),
        "site_cpu_s": round(cpu["site"], 2),
        "redis_cpu_s": round(cpu["redis"], 2),
        "machine_cpu_percent": round(machine_percent, 1),
    }


def _pids(run: _Run) -> dict[str, list[int]]:
    return {
        "pollers": [p.pid for p in run.pollers],
        "site": [run.site.pid],
        "redis": [run.server.process.pid],
    }


def _cpu(pids: dict[str, list[int]]) -> dict[str, float]:
    return {name: sum(tree_cpu(pid) for pid in group) for name, group in pids.items()}


def _await_polled(client: redis.Redis, urls: Sequence[str], after: float, timeout_s: float) -> None:
    """Wait until every feed's next poll is later than ``after``."""
    deadline = time.monotonic() + timeout_s
    pending = list(urls)
    while pending:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(pending)} feeds were not polled in {timeout_s:.0f} s")
        time.sleep(0.1)
        scores: list[float | None] = []
        for start in range(0, len(pending), 5000):
            scores += client.zmscore(keys.FEED_SCHEDULE, pending[start : start + 5000])
        pending = [u for u, s in zip(pending, scores, strict=True) if s is None or s <= after]


def _bytes_per_feed(run: _Run) -> dict[str, Any]:
    """Redis bytes per registered feed, by key, from ``MEMORY USAGE`` (sampled per kind)."""
    client, feeds = run.client, len(run.urls)
    figures: dict[str, Any] = {
        "registry": _usage(client, keys.FEED_REGISTRY) / feeds,
        "schedule": _usage(client, keys.FEED_SCHEDULE) / feeds,
    }
    for kind in ("unchanged", "new", "error"):
        sample = [u for i, u in enumerate(run.urls) if feed_kind(i) == kind][:200]
        figures[f"state_{kind}"] = _mean(client, [keys.feed_state(u) for u in sample])
        figures[f"seen_{kind}"] = _mean(client, [keys.feed_seen(u) for u in sample])
        figures[f"seen_fields_{kind}"] = _mean_len(client, [keys.feed_seen(u) for u in sample])
        figures[f"outcomes_{kind}"] = _mean(client, [keys.feed_outcomes(u) for u in sample])
    figures["used_memory_mb"] = round(int(client.info("memory")["used_memory"]) / 2**20, 1)
    return {name: round(v, 1) if isinstance(v, float) else v for name, v in figures.items()}


def _usage(client: redis.Redis, key: str) -> int:
    return int(client.memory_usage(key, samples=0) or 0)


def _mean(client: redis.Redis, names: Sequence[str]) -> float:
    return sum(_usage(client, k) for k in names) / max(1, len(names))


def _mean_len(client: redis.Redis, names: Sequence[str]) -> float:
    return sum(int(client.hlen(k)) for k in names) / max(1, len(names))


def _post(url: str) -> None:
    request = urllib.request.Request(url, data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - local site
        answer.read()
