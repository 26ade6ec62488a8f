"""The newsflow command line, run as users run it (subprocesses)."""

from __future__ import annotations

import gzip
import json
import signal
import stat
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis

from pipeline.local.redis_server import PASSWORD_FILE, RedisServer, free_port, start_redis
from pipeline.local.site import sample_site_dir
from pipeline.publish import Publisher
from pipeline.settings import Settings
from tests.commands import ROOT, newsflow, wait_for
from tests.factories import entry_for, make_article

CORPUS = ROOT / "bench" / "data" / "article-extraction-benchmark" / "html"


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
    assert done.stderr.startswith("newsflow: NEWSFLOW_FETCH_DEADLINE_S (fetch.deadline_s): ")
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
    _assert_demo_screen_is_articles_and_summary_only(done)


def _assert_demo_screen_is_articles_and_summary_only(
    done: subprocess.CompletedProcess[str],
) -> None:
    """A newcomer's first screen: no Celery banner, SecurityWarning or log line between the
    articles; the children's output is in a log file the demo names at the end."""
    screen = done.stdout + done.stderr
    for noise in ("celery@", "[tasks]", "SecurityWarning", " INFO ", " WARNING ", "poll feed="):
        assert noise not in screen, f"{noise!r} on the demo's screen:\n{screen}"
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("logs of the worker and the poller: "), last
    log_file = Path(last.split(": ", 1)[1])
    try:
        logs = log_file.read_text(encoding="utf-8")
        for expected in ("celery@", "poll feed=", "outcome=published"):
            assert expected in logs, logs[-2000:]
    finally:
        log_file.unlink(missing_ok=True)


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


# ------------------------------------------------------------------ issue #15: configuration


def _config_failure(tmp_path: Path, command: list[str], **extra: str) -> str:
    """Run a command that must refuse its configuration: exit 2, one clear line, no Redis."""
    env = {"PATH": "/usr/bin:/bin", "NEWSFLOW_CONFIG_DIR": str(tmp_path), **extra}
    done = _run(*command, env=env, timeout=30)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("newsflow: "), done.stderr
    return done.stderr


@pytest.mark.parametrize(
    ("command", "extra", "prefix"),
    [
        (["worker"], {"NEWSFLOW_REDIS_URL": "redis//x"}, "NEWSFLOW_REDIS_URL (redis_url): "),
        (["poller", "--once"], {"NEWSFLOW_REDIS_URL": "ftp://x"}, "NEWSFLOW_REDIS_URL (redis_url)"),
        (["doctor"], {"REDIS_URL": "ftp://:hunter2@x"}, "REDIS_URL (redis_url): "),
        (["worker"], {"NEWSFLOW_REDIS_URL": "redis://:hunter2@h:99999/0"}, "NEWSFLOW_REDIS_URL"),
        (
            ["poller", "--once"],
            {"NEWSFLOW_FETCH_DEADLINE_S": "inf"},
            "NEWSFLOW_FETCH_DEADLINE_S (fetch.deadline_s): must be a finite number",
        ),
        (
            ["doctor"],
            {"NEWSFLOW_FETCH_USER_AGENT": "newsflow\r\nX-Evil: 1"},
            "NEWSFLOW_FETCH_USER_AGENT (fetch.user_agent): contains CR, LF or NUL",
        ),
        (["doctor"], {"NEWSFLOW_POLLER_INTERVALS": "5"}, "NEWSFLOW_POLLER_INTERVALS: unknown"),
        (["doctor"], {"NEWSFLOW_METRICS_BIND": "everywhere"}, "NEWSFLOW_METRICS_BIND"),
    ],
)
def test_bad_settings_exit_2_naming_the_variable(
    tmp_path: Path, command: list[str], extra: dict[str, str], prefix: str
) -> None:
    stderr = _config_failure(tmp_path, command, **extra)
    assert stderr.startswith(f"newsflow: {prefix}"), stderr
    assert "hunter2" not in stderr


def test_missing_config_dir_or_feeds_file_exits_2(tmp_path: Path) -> None:
    stderr = _config_failure(tmp_path / "nowhere", ["doctor"])
    assert stderr.startswith(f"newsflow: NEWSFLOW_CONFIG_DIR: no such directory: {tmp_path}")
    missing = str(tmp_path / "feeds.toml")
    stderr = _config_failure(tmp_path, ["poller", "--once"], NEWSFLOW_FEEDS_FILE=missing)
    assert stderr.startswith(f"newsflow: NEWSFLOW_FEEDS_FILE: no such file: {missing}")


@pytest.mark.parametrize(
    ("file", "text", "setting"),
    [
        ("newsflow.toml", "[fetch]\ndealine_s = 5\n", "fetch.dealine_s: unknown setting"),
        ("newsflow.toml", "[fetcher]\ndeadline_s = 5\n", "fetcher: unknown section"),
        ("newsflow.toml", "[fetch]\ndeadline_s = inf\n", "fetch.deadline_s: must be a finite"),
        (
            "feeds.toml",
            '[[feeds]]\nurl = "https://a.example/"\nheaders = { Cookie = "a\\r\\nX: y" }\n',
            "feeds[0].headers: the value of Cookie contains CR, LF or NUL",
        ),
        (
            "feeds.toml",
            '[[feeds]]\nurl = "https://a.example/"\nheader = { Cookie = "a" }\n',
            "feeds[0].header: unknown key",
        ),
    ],
)
def test_bad_config_file_exits_2_naming_file_and_key(
    tmp_path: Path, file: str, text: str, setting: str
) -> None:
    (tmp_path / file).write_text(text, encoding="utf-8")
    for command in (["doctor"], ["poller", "--once"]):
        stderr = _config_failure(tmp_path, command)
        assert stderr.startswith(f"newsflow: {tmp_path / file}: {setting}"), stderr


# ------------------------------------------------------------------ issue #15: embedded Redis


def test_embedded_redis_password_is_kept_beside_the_data(tmp_path: Path) -> None:
    first = start_redis(tmp_path / "redis", persistent=False, password=True)
    try:
        password = first.password
        assert len(password) >= 32 and f":{password}@" in first.url
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=first.port).ping()
        assert redis.Redis.from_url(first.url).ping()
    finally:
        first.stop()
    conf = tmp_path / "redis" / PASSWORD_FILE
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600
    assert password in conf.read_text()
    restarted = start_redis(tmp_path / "redis", persistent=False, password=True)
    try:
        assert restarted.password == password  # reused: URLs given out stay valid
        assert redis.Redis.from_url(restarted.url).ping()
        with open(f"/proc/{restarted.process.pid}/cmdline", "rb") as fh:
            assert password.encode() not in fh.read()
    finally:
        restarted.stop()


def test_run_protects_its_redis_with_a_password(tmp_path: Path) -> None:
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
        assert stat.S_IMODE(url_file.stat().st_mode) == 0o600
        url = urlsplit(url_file.read_text().strip())
        password = url.password or ""
        conf = tmp_path / "data" / "redis" / PASSWORD_FILE
        assert len(password) >= 32 and password in conf.read_text()
        assert stat.S_IMODE(conf.stat().st_mode) == 0o600
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=url.port).ping()
        client = redis.Redis(port=url.port, password=password)
        wait_for(lambda: len(client.client_list()) >= 3, 60, "worker and poller connected")
        client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=90)[0].decode()
    assert proc.returncode == 0, output
    assert "redis://:***@127.0.0.1" in output and password not in output
