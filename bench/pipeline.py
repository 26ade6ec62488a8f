"""``newsflow bench pipeline``: the whole pipeline on one machine, against its limits.

Starts a private redis-server (AOF every second, as in production), the replay site
(:mod:`bench.site`, its own process), one ``newsflow worker`` with a pool of K
processes (through :mod:`bench.probe`, which records when each entry's outcome was
recorded) and the real ``newsflow poller``; releases the N articles into the feeds and waits
until each has an outcome. CPU time is read per process tree with psutil; then the same pages
go through the extraction-only pool and the naive loop (:mod:`bench.limits`).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import psutil
import redis

from bench.corpus import feed_path, load_corpus
from bench.figures import (
    Limit,
    cpu_figures,
    latency_figures,
    limit_figures,
    ratios,
    rss_growth,
)
from bench.limits import extraction_limit, naive_limit
from bench.processes import rss_mb, stop_processes, tree_cpu
from bench.redis_usage import (
    command_calls,
    commands_per_article,
    memory_figures,
    outcome_counts,
)
from pipeline import keys
from pipeline.local.redis_server import RedisServer, start_redis
from pipeline.settings import Settings

FEED_SIZE = 400
"""Articles per feed (the site lists at most this many per feed document)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BenchOptions:
    """What to run: sizes, pool, feeding rate and knobs passed to the worker."""

    corpus: Path
    articles: int = 200
    workers: int = 2
    pool: int | None = None
    """Pool processes of the worker, when not K (e.g. more processes than cores)."""
    rate: float = 0.0
    limit_sample: int = 1000
    limits: bool = True
    log_level: str = "INFO"
    timeout_s: float = 3600.0
    env: Mapping[str, str] = field(default_factory=dict)
    worker_args: tuple[str, ...] = ()

    @property
    def feeds(self) -> int:
        return max(2, -(-self.articles // FEED_SIZE))


class EntryRun(NamedTuple):
    """One entry's run in a pool process, as the probe recorded it (Unix times)."""

    enqueued: float
    started: float
    finished: float
    outcome: str
    pid: int


@dataclass
class _Run:
    """The processes of one bench run."""

    tmp: Path
    server: RedisServer
    site: subprocess.Popen[bytes]
    base_url: str
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def pids(self) -> dict[str, int]:
        return {
            "workers": self.procs["workers"].pid,
            "poller": self.procs["poller"].pid,
            "redis": self.server.process.pid,
            "site": self.site.pid,
        }


def run_bench(options: BenchOptions) -> dict[str, Any]:
    """Run the pipeline bench (and its references unless ``limits`` is off); the report."""
    with (
        tempfile.TemporaryDirectory(prefix="newsflow-bench-") as tmp_name,
        contextlib.ExitStack() as cleanup,  # stops what started, last first, whatever fails
    ):
        tmp = Path(tmp_name)
        server = start_redis(tmp / "redis", persistent=True)
        cleanup.callback(server.stop)
        site, base_url = _start_site(options)
        cleanup.callback(stop_processes, [site])
        run = _Run(tmp=tmp, server=server, site=site, base_url=base_url)
        cleanup.callback(lambda: stop_processes(list(run.procs.values())))
        before = _extraction_limit(options, half=0) if options.limits else None
        report = _run_pipeline(run, options)
        if before is not None:
            report.update(_run_limits(run, options, report, before))
        return report


def _run_pipeline(run: _Run, options: BenchOptions) -> dict[str, Any]:
    client = redis.Redis(port=run.server.port)
    try:
        _start_processes(run, options)
        _wait_ready(run, client, options)
        memory_before = int(client.info("memory")["used_memory"])
        commands_before = command_calls(client)
        cpu_before = _cpu_snapshot(run)
        go = time.time()
        _post(f"{run.base_url}/_bench/start?rate={options.rate}")
        watch = _await_outcomes(run, client, options)
        cpu_after = _cpu_snapshot(run)
        cpu_s = {name: cpu_after[name] - cpu_before[name] for name in cpu_before}
        memory = memory_figures(client, run.base_url, options.articles, memory_before)
        memory["commands_per_article"] = commands_per_article(
            commands_before, command_calls(client), options.articles
        )
        stages, stages_cpu = _stage_means(run.tmp / "metrics")
    finally:
        client.close()
    stop_processes([run.procs.pop("poller"), run.procs.pop("workers")])
    runs = _read_probe(run.tmp / "probe", go)
    report = _report(options, watch, runs, cpu_s, memory, go)
    report["stage_s_mean"] = stages
    report["stage_cpu_s_mean"] = stages_cpu
    return report


def _report(
    options: BenchOptions,
    watch: dict[str, Any],
    runs: list[EntryRun],
    cpu_s: dict[str, float],
    memory: dict[str, float],
    go: float,
) -> dict[str, Any]:
    done = [t for t in runs if t.outcome != "already"]
    published = [t for t in done if t.outcome == "published"]
    first = min((t.enqueued for t in done), default=go)
    last = max((t.finished for t in done), default=go)
    rate = len(done) / (last - first) if last > first else 0.0
    return {
        "articles": options.articles,
        "workers": options.workers,
        "pool_processes": options.pool or options.workers,
        "feeds": options.feeds,
        "feed_rate": options.rate or "all at once",
        "outcomes": watch["outcomes"],
        "all_arrived": watch["outcomes"].get("published", 0) == options.articles,
        "articles_per_s": round(rate, 2),
        "wall_s": round(last - first, 2),
        "latency": latency_figures([t.finished - t.enqueued for t in published]),
        "task_s_mean": round(statistics.fmean([t.finished - t.started for t in done] or [0]), 4),
        "idle_between_tasks_s_mean": _idle_between_entries(runs),
        "cpu_s_per_article": cpu_figures(cpu_s, options.articles),
        "peak_worker_rss_mb": watch["peak_rss_mb"],
        "memory": rss_growth(watch["rss_samples"]),
        "redis": memory,
    }


def _extraction_limit(options: BenchOptions, half: int) -> Limit:
    """Extraction alone on one half of the sample (one half before the pipeline, one after,
    so that a noisy neighbour weighs on both runs alike)."""
    sample = min(options.articles, options.limit_sample)
    pages = load_corpus(options.corpus)
    return extraction_limit(pages, range(half, sample, 2), options.workers, Settings())


def _run_limits(
    run: _Run, options: BenchOptions, report: dict[str, Any], before: Limit
) -> dict[str, Any]:
    after = _extraction_limit(options, half=1)
    extraction = Limit(
        articles=before.articles + after.articles,
        wall_s=before.wall_s + after.wall_s,
        cpu_s=before.cpu_s + after.cpu_s,
    )
    sample = min(options.articles, options.limit_sample)
    feeds = [run.base_url + feed_path(f) for f in range(options.feeds)]
    naive = naive_limit(feeds, sample, run.server.url)
    pipeline_cpu = report["cpu_s_per_article"]["pipeline_total"]
    return {
        "extraction_only": limit_figures(extraction),
        "naive": limit_figures(naive),
        "ratios": ratios(
            pipeline_rate=report["articles_per_s"],
            pipeline_cpu=pipeline_cpu,
            extraction=extraction,
            naive=naive,
        ),
    }


def _start_site(options: BenchOptions) -> tuple[subprocess.Popen[bytes], str]:
    argv = [sys.executable, "-m", "bench.site", str(options.corpus)]
    argv += [str(options.articles), str(options.feeds)]
    site = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert site.stdout is not None
    with site.stdout:  # the site prints its port, then nothing
        port = int(site.stdout.readline() or b"0")
    if not port:
        stop_processes([site])
        raise RuntimeError("the replay site did not start")
    return site, f"http://127.0.0.1:{port}"


def _start_processes(run: _Run, options: BenchOptions) -> None:
    config = run.tmp / "config"
    config.mkdir()
    feeds = "".join(
        f'[[feeds]]\nurl = "{run.base_url}{feed_path(f)}"\ninterval_s = 1\n\n'
        for f in range(options.feeds)
    )
    (config / "feeds.toml").write_text(feeds, encoding="utf-8")
    (run.tmp / "probe").mkdir()
    env = _env(run, options, config)
    python = sys.executable
    worker = [python, "-m", "bench.probe", str(run.tmp / "probe"), "worker"]
    pool = options.pool or options.workers
    worker += ["--concurrency", str(pool), "--loglevel", options.log_level]
    # Only the worker's processes share a metrics folder (the worker empties it on start).
    worker_env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(run.tmp / "metrics")}
    with (run.tmp / "workers.log").open("wb") as log:
        run.procs["workers"] = subprocess.Popen(
            [*worker, *options.worker_args], env=worker_env, stdout=log, stderr=subprocess.STDOUT
        )
    with (run.tmp / "poller.log").open("wb") as log:
        run.procs["poller"] = subprocess.Popen(
            [python, "-m", "workers.cli.main", "poller"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _env(run: _Run, options: BenchOptions, config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}
    env.pop("REDIS_URL", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(
        NEWSFLOW_REDIS_URL=run.server.url,
        NEWSFLOW_CONFIG_DIR=str(config),
        NEWSFLOW_DATA_DIR=str(run.tmp / "data"),
        NEWSFLOW_LOG_LEVEL=options.log_level,
        NEWSFLOW_FETCH_ALLOW="127.0.0.0/8",
        # One local host plays every site: politeness stays on, with limits that fit it.
        NEWSFLOW_FETCH_RATE_PER_HOST="100000",
        NEWSFLOW_FETCH_BURST_PER_HOST="100",
        NEWSFLOW_FETCH_MAX_CONCURRENT_PER_HOST="64",
        NEWSFLOW_METRICS_WORKER_PORT="0",
        NEWSFLOW_METRICS_POLLER_PORT="0",
        PYTHONUNBUFFERED="1",
    )
    env.update(options.env)
    return env


def _wait_ready(run: _Run, client: redis.Redis, options: BenchOptions) -> None:
    """Until the pool has its K processes and the poller has polled every (empty) feed."""
    deadline = time.monotonic() + 120
    worker = psutil.Process(run.procs["workers"].pid)
    feed_keys = [keys.feed_state(run.base_url + feed_path(f)) for f in range(options.feeds)]
    while time.monotonic() < deadline:
        for name, proc in run.procs.items():
            if proc.poll() is not None:
                log = (run.tmp / f"{name}.log").read_text(encoding="utf-8", errors="replace")
                tail = "\n".join(log.splitlines()[-15:])
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail}")
        pool = len(worker.children())
        if pool >= (options.pool or options.workers) and all(client.exists(k) for k in feed_keys):
            time.sleep(1.0)
            return
        time.sleep(0.2)
    raise RuntimeError("workers or poller not ready after 120 s")


def _await_outcomes(run: _Run, client: redis.Redis, options: BenchOptions) -> dict[str, Any]:
    """Poll outcome counts and sample pool RSS until every article has an outcome."""
    deadline = time.monotonic() + options.timeout_s
    worker = psutil.Process(run.procs["workers"].pid)
    samples: list[tuple[float, float]] = []
    peak = 0.0
    while True:
        counts = outcome_counts(client)
        progress = sum(counts.values()) / options.articles
        pool_rss = [rss_mb(p) for p in worker.children()]
        peak = max(peak, *pool_rss, 0.0)
        samples.append((progress, sum(pool_rss)))
        if progress >= 1.0 or time.monotonic() > deadline:
            return {"outcomes": counts, "peak_rss_mb": round(peak, 1), "rss_samples": samples}
        time.sleep(0.5)


def _stage_means(metrics_dir: Path) -> tuple[dict[str, float], dict[str, float]]:
    """Mean wall and CPU seconds per pipeline stage, from the workers' own Prometheus samples."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(metrics_dir))  # type: ignore[no-untyped-call]
    try:
        metrics = list(registry.collect())
    except OSError:  # a pool process was replaced while reading: try once more
        metrics = list(registry.collect())
    values: dict[tuple[str, str], float] = {}
    for metric in metrics:
        for sample in metric.samples:
            if stage := sample.labels.get("stage"):
                values[(sample.name, stage)] = sample.value
    counts = {st: n for (name, st), n in values.items() if name == "newsflow_stage_seconds_count"}

    def means(name: str) -> dict[str, float]:
        return {
            st: round(values[(name, st)] / n, 5)
            for st, n in counts.items()
            if n and (name, st) in values
        }

    return means("newsflow_stage_seconds_sum"), means("newsflow_stage_cpu_seconds_total")


def _idle_between_entries(runs: list[EntryRun]) -> float:
    """Mean time a pool process waited between finishing one entry and starting the next."""
    gaps = []
    for pid in {t.pid for t in runs}:
        mine = sorted((t for t in runs if t.pid == pid), key=lambda t: t.started)
        gaps += [b.started - a.finished for a, b in zip(mine, mine[1:], strict=False)]
    return round(statistics.fmean(gaps), 4) if gaps else 0.0


def _read_probe(folder: Path, since: float) -> list[EntryRun]:
    """Every entry run in the pool, for entries enqueued after ``since``."""
    rows = []
    for path in folder.glob("*.tsv"):
        for line in path.read_text(encoding="utf-8").splitlines():
            enqueued, started, finished, kind = line.split("\t")
            if enqueued != "None" and float(enqueued) >= since:
                rows.append(
                    EntryRun(float(enqueued), float(started), float(finished), kind, int(path.stem))
                )
    return rows


def _cpu_snapshot(run: _Run) -> dict[str, float]:
    """CPU seconds so far of each process tree, and of the worker's main process alone."""
    snapshot = {name: tree_cpu(pid) for name, pid in run.pids().items()}
    try:
        main = psutil.Process(run.procs["workers"].pid).cpu_times()
        snapshot["workers_main"] = main.user + main.system
    except psutil.NoSuchProcess:
        snapshot["workers_main"] = 0.0
    return snapshot


def _post(url: str) -> None:
    request = urllib.request.Request(url, data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()
