"""Prometheus metrics from a real worker after an end-to-end run, and the dashboard."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from prometheus_client import start_http_server
from prometheus_client.parser import text_string_to_metric_families

from pipeline import keys
from pipeline.local.redis_server import RedisServer, free_port
from pipeline.local.site import LocalSite
from pipeline.settings import MetricsSettings
from tests.commands import ROOT, newsflow, wait_for, worker_env, write_feeds
from tests.factories import SAMPLE_EXPECTED as EXPECTED
from workers import metrics

DASHBOARD = ROOT / "config" / "grafana" / "dashboards" / "newsflow.json"
PROMETHEUS = ROOT / "config" / "prometheus.yml"


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_worker_metrics_match_the_stream(
    redis_server: RedisServer,
    redis_client: redis.Redis,
    sample_site: LocalSite,
    start_worker: Any,
    tmp_path: Path,
) -> None:
    write_feeds(tmp_path, [sample_site.url(p) for p in EXPECTED["feeds"]])
    worker_port, poller_port = free_port(), free_port()
    env = worker_env(
        redis_server.url,
        tmp_path,
        NEWSFLOW_METRICS_WORKER_PORT=str(worker_port),
        NEWSFLOW_METRICS_POLLER_PORT=str(poller_port),
    )
    start_worker(env)
    poller = subprocess.Popen(
        newsflow("poller"), env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        want = {"published": 6, "duplicate": 1}

        def counted() -> bool:
            try:
                samples = scrape(worker_port)
            except OSError:
                return False
            got = {
                o: sum(
                    v
                    for (n, labels), v in samples.items()
                    if n == "newsflow_articles_total" and ("outcome", o) in labels
                )
                for o in want
            }
            return got == want

        wait_for(counted, 90, "worker metrics to count 6 published and 1 duplicate")
        samples = scrape(worker_port)
        assert redis_client.xlen(keys.ARTICLES_STREAM) == 6
        fetch_stage = samples[("newsflow_stage_seconds_count", (("stage", "fetch"),))]
        assert fetch_stage >= 7
        extract_wall = samples[("newsflow_stage_seconds_sum", (("stage", "extract"),))]
        extract_cpu = samples[("newsflow_stage_cpu_seconds_total", (("stage", "extract"),))]
        assert 0 < extract_cpu <= extract_wall * 1.05  # CPU of the process within the stage
        assert samples[("newsflow_end_to_end_seconds_count", ())] == 7
        assert (
            sum(
                v
                for (n, labels), v in samples.items()
                if n == "newsflow_fetches_total" and ("status", "200") in labels
            )
            >= 7
        )
        # No authentication on these endpoints: loopback only unless metrics.bind says so.
        assert listening(worker_port) == {"127.0.0.1"}
        assert listening(poller_port) == {"127.0.0.1"}
        poller_samples = scrape(poller_port)
        assert poller_samples[("newsflow_stream_length", (("stream", keys.ARTICLES_STREAM),))] == 6
        assert poller_samples[("newsflow_outcomes", (("outcome", "published"),))] == 6
        assert poller_samples[("newsflow_enqueued", ())] == 7
    finally:
        poller.terminate()
        poller.wait(timeout=30)


def listening(port: int) -> set[str]:
    """The local addresses with a TCP socket listening on ``port`` (from /proc/net/tcp*)."""
    addresses: set[str] = set()
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state != "0A" or int(hex_port, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)  # 32-bit words in host (little-endian) order
            packed = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            addresses.add(socket.inet_ntop(family, packed))
    return addresses


@pytest.mark.parametrize(("bind", "expected"), [(None, "127.0.0.1"), ("0.0.0.0", "0.0.0.0")])
def test_endpoints_listen_where_metrics_bind_says(
    bind: str | None, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setattr(metrics, "_host_labels", metrics._host_labels)
    started: list[Any] = []

    def start(*args: Any, **kwargs: Any) -> Any:
        started.append(start_http_server(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(metrics, "start_http_server", start)
    settings = MetricsSettings() if bind is None else MetricsSettings(bind=bind)
    port = free_port()
    metrics.serve_worker_metrics(port, settings)
    try:
        assert listening(port) == {expected}
    finally:
        for server, thread in started:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)


def test_host_label_values_are_capped(tmp_path: Path) -> None:
    labels = metrics.HostLabels(3, tmp_path)
    assert [labels(h) for h in ("a.example", "b.example", "a.example", "c.example")] == [
        "a.example",
        "b.example",
        "a.example",
        "c.example",
    ]
    assert labels("d.example") == metrics.OTHER_HOST
    assert labels("a.example") == "a.example"
    # Another process of the same worker (a recycled pool process) shares the same cap.
    sibling = metrics.HostLabels(3, tmp_path)
    assert sibling("e.example") == metrics.OTHER_HOST
    assert sibling("c.example") == "c.example"
    assert metrics.HostLabels(0)("a.example") == metrics.OTHER_HOST


def test_fetch_counter_keeps_at_most_max_host_labels_hosts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setattr(metrics, "_host_labels", metrics._host_labels)
    metrics.serve_worker_metrics(0, MetricsSettings(max_host_labels=5))
    hooks = metrics.PrometheusHooks()
    for i in range(300):
        hooks.fetched(f"h{i}.cap.example", "200")
    hosts = {
        sample.labels["host"]
        for family in metrics.FETCHES.collect()
        for sample in family.samples
        if sample.labels.get("host", "").endswith(".cap.example")
        or sample.labels.get("host") == metrics.OTHER_HOST
    }
    assert hosts == {f"h{i}.cap.example" for i in range(5)} | {metrics.OTHER_HOST}
    other = metrics.FETCHES.labels(host=metrics.OTHER_HOST, status="200")._value.get()
    assert other >= 295


def _defined_metrics() -> set[str]:
    names = set(metrics.REDIS_GAUGES)
    for value in vars(metrics).values():
        describe = getattr(value, "describe", None)
        if callable(describe) and value.__class__.__module__.startswith("prometheus_client"):
            for family in describe():
                names.add(family.name)
    return names


def test_dashboard_uses_only_metrics_the_code_defines() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    defined = _defined_metrics()
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 8
    used = {
        re.sub(r"_(bucket|sum|count|total)$", "", m)
        for e in exprs
        for m in re.findall(r"newsflow_[a-z_]+", e)
    }
    bare = {re.sub(r"_total$", "", d) for d in defined}
    assert used <= bare, f"panels use undefined metrics: {used - bare}"


def test_prometheus_scrapes_the_configured_ports() -> None:
    config = yaml.safe_load(PROMETHEUS.read_text(encoding="utf-8"))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    defaults = MetricsSettings()
    worker_ports = {c["port"] for c in jobs["newsflow-worker"]["dns_sd_configs"]}
    assert worker_ports == {defaults.worker_port}
    assert jobs["newsflow-poller"]["static_configs"][0]["targets"] == [
        f"poller:{defaults.poller_port}"
    ]
