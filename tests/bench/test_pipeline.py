"""`newsflow bench pipeline`: a small real run (site, Redis, poller, one worker); no timings."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.corpus import CorpusPage, copy_suffix, page_html
from bench.figures import Limit, percentile, ratios, rss_growth
from bench.pipeline import BenchOptions, run_bench
from bench.site import Release, feed_items
from pipeline.dedupe import near_duplicate_anchors
from pipeline.local.site import sample_site_dir

ROOT = Path(__file__).resolve().parents[2]


def test_copies_keep_markup_and_change_words() -> None:
    text = "the people vexed a quiz and jumped over the gazebo " * 20
    page = CorpusPage("x", (text, text), ("<p class='gazebo'>",))
    original, copy = page_html((page,), 0).decode(), page_html((page,), 1).decode()
    assert original == text + "<p class='gazebo'>" + text
    assert "<p class='gazebo'>" in copy
    assert copy.startswith("the peopleb vexedb a quiz and jumpedb over the gazebob ")
    assert len(copy.split()) == len(original.split())
    assert not set(near_duplicate_anchors(original)) & set(near_duplicate_anchors(copy))


def test_feeds_list_released_articles_round_robin() -> None:
    release = Release(articles=10)
    assert feed_items(release, 0, 3, 0.0) == []
    release.start(rate=0)
    assert feed_items(release, 0, 3, 0.0) == [0, 3, 6, 9]
    assert feed_items(release, 2, 3, 0.0) == [2, 5, 8]
    release.start(rate=2)
    assert release.started is not None
    assert feed_items(release, 1, 3, release.started + 1.0) == [1]
    assert copy_suffix(1) == "b" and copy_suffix(26) == "ba"


def test_figures() -> None:
    assert percentile([3.0, 1.0, 2.0, 4.0], 50) == 2.0
    assert percentile([], 99) == 0.0
    extraction = Limit(articles=10, wall_s=1.0, cpu_s=0.2)
    naive = Limit(articles=10, wall_s=2.0, cpu_s=0.3)
    got = ratios(pipeline_rate=8.0, pipeline_cpu=0.025, extraction=extraction, naive=naive)
    assert got == {
        "throughput_vs_extraction_limit": 0.8,
        "throughput_vs_naive": 1.6,
        "cpu_efficiency": 0.8,
    }
    growth = rss_growth([(0.1, 100.0), (0.5, 120.0), (0.95, 105.0)])
    assert growth["rss_growth"] == 0.05


def _sample_corpus(folder: Path) -> Path:
    """The bundled sample articles as a corpus folder (html/*.html.gz), present everywhere."""
    (folder / "html").mkdir(parents=True)
    for page in sorted((sample_site_dir() / "articles").glob("*.html")):
        body = page.read_bytes().replace(b"{{BASE}}", b"http://sample.test")
        (folder / "html" / f"{page.stem}.html.gz").write_bytes(gzip.compress(body))
    return folder


def test_bench_pipeline_runs_every_article_through(tmp_path: Path) -> None:
    corpus = _sample_corpus(tmp_path / "corpus")
    done = subprocess.run(
        [sys.executable, "-m", "workers.cli.main", "bench", "pipeline", "--articles", "20"]
        + ["--workers", "1", "--limit-sample", "10", "--corpus", str(corpus), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["outcomes"] == {"published": 20}
    assert report["all_arrived"] is True
    assert report["redis"]["stream_length"] == 20
    assert set(report["latency"]) == {"p50_s", "p95_s", "p99_s", "max_s"}
    assert set(report["cpu_s_per_article"]) == {
        "workers",
        "workers_main",
        "poller",
        "redis",
        "site",
        "pipeline_total",
    }
    assert report["articles_per_s"] > 0
    assert report["peak_worker_rss_mb"] > 0
    assert report["extraction_only"]["articles"] == 10
    assert report["naive"]["articles"] == 10
    assert set(report["ratios"]) == {
        "throughput_vs_extraction_limit",
        "throughput_vs_naive",
        "cpu_efficiency",
    }


def _children() -> set[int]:
    tasks = Path(f"/proc/{os.getpid()}/task")
    return {int(pid) for task in tasks.iterdir() for pid in (task / "children").read_text().split()}


def test_a_bench_that_fails_to_start_leaves_no_process_behind(tmp_path: Path) -> None:
    (tmp_path / "html").mkdir()  # no pages: the replay site exits at once
    before = _children()
    with pytest.raises(RuntimeError, match="the replay site did not start"):
        run_bench(BenchOptions(corpus=tmp_path, articles=10, workers=1))
    assert _children() - before == set()  # its redis-server was stopped too
