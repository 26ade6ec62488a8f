"""Prometheus metrics from a real worker after an end-to-end run, and the dashboard."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import redis
import yaml
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
        poller_samples = scrape(poller_port)
        assert poller_samples[("newsflow_stream_length", (("stream", keys.ARTICLES_STREAM),))] == 6
        assert poller_samples[("newsflow_outcomes", (("outcome", "published"),))] == 6
        assert poller_samples[("newsflow_enqueued", ())] == 7
    finally:
        poller.terminate()
        poller.wait(timeout=30)


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
