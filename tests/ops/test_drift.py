"""Per-source drift: a local site switches its layout mid-run; the alarm fires for that
source only, and shows in the metric, ``newsflow stats`` and ``newsflow doctor``."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from prometheus_client.core import Metric

from pipeline.errors import DropArticle
from pipeline.local.site import LocalSite, send_body
from pipeline.models import FeedEntry
from pipeline.ops.drift import compare, live_alarms, source_of
from pipeline.process import Services, process_entry
from pipeline.settings import ArchiveSettings, DriftSettings, Settings
from tests.commands import ROOT, newsflow, worker_env
from workers.metrics import RedisStateCollector

SENTENCE = (
    "The council met on Tuesday to debate the harbour plan, and residents spoke for hours "
    "about traffic, noise and the cost of the new quay before the vote was taken late at night."
)
WORDS = SENTENCE.split(" ")


def old_layout(n: int) -> bytes:
    body = "".join(
        f"<p>{' '.join(WORDS[(i + n) % len(WORDS) :] + WORDS[: (i + n) % len(WORDS)])}</p>"
        for i in range(8)
    )
    return (
        "<html><head><title>Harbour story {n}</title>"
        '<meta name="author" content="Jane Doe">'
        '<meta property="article:published_time" content="2026-11-30T10:00:00Z">'
        f'<meta property="og:image" content="/img/{n}.jpg"></head>'
        f"<body><article><h1>Harbour story {n}</h1>{body}</article></body></html>"
    ).encode()


def new_layout(n: int) -> bytes:
    """The redesign: an app shell with a teaser; no date, author or image in the markup."""
    teaser = " ".join(WORDS * 2)
    return (
        f"<html><head><title>Harbour story {n}</title></head><body>"
        f'<div id="app"><div class="teaser"><p>{teaser}</p></div></div>'
        "<script>window.__STATE__ = {}</script></body></html>"
    ).encode()


@pytest.fixture
def other_site() -> Iterator[LocalSite]:
    site = LocalSite(root=Path(__file__).parent, host="127.0.0.2").start()
    yield site
    site.stop()


def test_a_site_that_changes_layout_alarms_for_itself_only(
    redis_client: redis.Redis,
    settings: Settings,
    fixture_site: LocalSite,
    other_site: LocalSite,
    tmp_path: Path,
) -> None:
    drift = DriftSettings(window=10, min_baseline=20)
    settings = settings.replace(drift=drift, archive=ArchiveSettings(enabled=False))
    services = Services.build(settings, redis_client)
    switched = False
    for site in (fixture_site, other_site):
        site.routes.update(
            {
                f"/a/{n}": (
                    lambda r, n=n, s=site: send_body(
                        r,
                        200,
                        new_layout(n) if switched and s is fixture_site else old_layout(n),
                        "text/html",
                    )
                )
                for n in range(60)
            }
        )
    try:
        for n in range(60):
            switched = n >= 40
            for site in (fixture_site, other_site):
                with contextlib.suppress(DropArticle):  # teasers may be dropped
                    process_entry(FeedEntry(url=site.url(f"/a/{n}")), services)
            if n == 39:
                assert live_alarms(redis_client) == {}  # the old layout is the baseline
    finally:
        services.close()

    alarms = live_alarms(redis_client)
    drifting = source_of(fixture_site.base_url)
    assert {a.source for a in alarms.values()} == {drifting}
    signals = {a.signal for a in alarms.values()}
    assert {"date", "author", "image"} <= signals, signals
    assert "words" in signals or "drops" in signals, signals

    metric = _drift_metric(RedisStateCollector(redis_client, settings))
    labels = {(s.labels["source"], s.labels["signal"]) for s in metric.samples if s.value == 1}
    assert labels == {(drifting, s) for s in signals}

    env = worker_env(settings.redis_url, tmp_path / "config")
    stats = subprocess.run(newsflow("stats"), env=env, cwd=ROOT, capture_output=True, text=True)
    assert stats.returncode == 0, stats.stderr
    assert f"drift: date {drifting}: share with a date" in stats.stdout
    assert source_of(other_site.base_url) not in stats.stdout.split("drift:", 1)[1]
    doctor = subprocess.run(newsflow("doctor"), env=env, cwd=ROOT, capture_output=True, text=True)
    assert f"source drift: {drifting}: share with an author 0%" in doctor.stdout


def _drift_metric(collector: RedisStateCollector) -> Metric:
    [metric] = [m for m in collector.collect() if m.name == "newsflow_source_drift"]
    return metric


def test_thresholds_against_the_baseline() -> None:
    settings = DriftSettings(window=10, min_baseline=20)
    base = {"n": 100, "articles": 95, "dropped": 5, "no_date": 5, "path:trafilatura": 90}
    base |= {"wb:16": 95}
    same = {"n": 10, "articles": 10, "no_date": 1, "path:trafilatura": 9, "wb:16": 10}
    assert compare(same, base, settings) == {}
    worse = {"n": 10, "articles": 6, "dropped": 4, "no_date": 6, "wb:11": 6, "path:recall": 6}
    assert set(compare(worse, base, settings)) == {"drops", "words", "date", "path"}
    young = {**base, "n": 19}
    assert compare(worse, young, settings) == {}  # the baseline is too young to judge
