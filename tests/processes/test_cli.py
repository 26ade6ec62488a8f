"""The newsflow command line, run as users run it (subprocesses)."""

from __future__ import annotations

import gzip
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis

from pipeline.local.redis_server import RedisServer, free_port
from pipeline.local.site import sample_site_dir
from pipeline.publish import Publisher
from pipeline.settings import Settings
from tests.commands import ROOT, newsflow, wait_for
from tests.factories import entry_for, make_article

CORPUS = ROOT.parent / "shared" / "corpus" / "article-extraction-benchmark" / "html"


def _run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        newsflow(*args), capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd
    )


@pytest.mark.parametrize("command", [["worker"], ["poller"], ["tail"]])
def test_unreachable_redis_fails_fast_with_masked_url(command: list[str], tmp_path: Path) -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    env = {"NEWSFLOW_REDIS_URL": url, "NEWSFLOW_CONFIG_DIR": str(tmp_path), "PATH": "/usr/bin"}
    started = time.monotonic()
    done = _run(*command, env=env, timeout=30)
    assert done.returncode != 0
    assert time.monotonic() - started < 10
    assert "redis://:***@127.0.0.1" in done.stderr and "hunter2" not in done.stderr


def test_bad_config_is_a_clear_error(tmp_path: Path) -> None:
    env = {"NEWSFLOW_CONFIG_DIR": str(tmp_path), "NEWSFLOW_FETCH_DEADLINE_S": "soon"}
    done = _run("poller", env=env)
    assert done.returncode == 2
    assert "invalid configuration" in done.stderr and "deadline_s" in done.stderr
    assert "Traceback" not in done.stderr


def test_extract_reports_bad_inputs_and_goes_on(tmp_path: Path) -> None:
    empty = tmp_path / "empty.html"
    empty.write_bytes(b"")
    binary = tmp_path / "image.html.gz"
    binary.write_bytes(gzip.compress(bytes(range(256)) * 10))
    page = sample_site_dir() / "articles" / "rates-hold.html"
    done = _run(
        "extract",
        str(empty),
        str(binary),
        str(page),
        str(tmp_path / "missing.html"),
        "--base-url",
        "https://gazette.example/articles/rates-hold.html",
    )
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert done.returncode == 1
    assert [("error" in line) for line in lines] == [True, True, False, True]
    assert lines[2]["article"]["title"].startswith("Central bank holds interest rates")
    assert lines[2]["article"]["url"] == "https://gazette.example/articles/rates-hold.html"


def test_extract_benchmark_corpus_one_line_per_page() -> None:
    pages = sorted(CORPUS.glob("*.html.gz"))[:20]
    assert pages, f"benchmark corpus not found at {CORPUS}"
    done = _run("extract", *map(str, pages), timeout=120)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(lines) == len(pages)
    assert sum("article" in line for line in lines) >= len(pages) - 1


def test_demo_prints_every_sample_article_and_exits_zero() -> None:
    done = _run("demo", "--timeout", "120", timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    expected = json.loads((sample_site_dir() / "expected.json").read_text(encoding="utf-8"))
    for title in expected["published"]:
        assert done.stdout.count(title) == 1, title
    assert "6 published, 1 duplicate, 0 dropped, 0 dead" in done.stdout


def test_run_embeds_redis_keeps_running_and_stops_cleanly(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    env = {
        "PATH": "/usr/bin:/bin",
        "NEWSFLOW_CONFIG_DIR": str(tmp_path / "config"),
        "NEWSFLOW_DATA_DIR": str(tmp_path / "data"),
    }
    proc = subprocess.Popen(
        newsflow("run", "--workers", "1"),
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url_file = tmp_path / "data" / "redis.url"
    try:
        wait_for(url_file.exists, 30, "the embedded redis-server")
        client = redis.Redis.from_url(url_file.read_text().strip())
        wait_for(
            lambda: bool(client.client_list()) and len(client.client_list()) >= 3,
            60,
            "worker and poller connected",
        )
        time.sleep(2)
        assert proc.poll() is None, "newsflow run exited on its own"
        assert (tmp_path / "data" / "redis" / "appendonlydir").exists() or any(
            (tmp_path / "data" / "redis").glob("appendonly*")
        ), "embedded Redis has no AOF"
        client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=90)[0].decode()
    assert proc.returncode == 0, output
    assert not url_file.exists()


def test_tail_prints_stream_articles_as_json_lines(
    redis_server: RedisServer, redis_client: redis.Redis, settings: Settings
) -> None:
    publisher = Publisher(redis_client, settings)
    for i in range(3):
        url = f"https://example.com/{i}"
        publisher.publish_article(make_article(url, text=f"story {i} " * 40), entry_for(url))
    env = {"NEWSFLOW_REDIS_URL": redis_server.url, "PATH": "/usr/bin"}
    done = _run("tail", "--from", "0", "--count", "2", env=env, timeout=30)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["url"] for line in lines] == ["https://example.com/0", "https://example.com/1"]
    pretty = _run("tail", "--from", "0", "--count", "1", "--pretty", env=env, timeout=30)
    assert "A title" in pretty.stdout and "Example" in pretty.stdout


def test_bench_dedupe_meets_its_targets() -> None:
    corpus = CORPUS.parent
    assert corpus.exists(), f"benchmark corpus not found at {corpus}"
    done = _run("bench", "dedupe", "--corpus", str(corpus), "--json", timeout=300)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["distinct_pages_merged"] == 0
    assert figures["precision"] >= 0.99 and figures["recall"] >= 0.95
    assert figures["cpu_ms_per_article"] <= 2
