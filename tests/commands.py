"""Running newsflow processes in tests: their environment, config, command line and waits."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from pipeline import keys

ROOT = Path(__file__).resolve().parents[1]
NETGUARD = Path(__file__).resolve().parent / "netguard"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def worker_env(redis_url: str, config_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for newsflow subprocesses in tests (``config_dir`` is created: a folder
    named by NEWSFLOW_CONFIG_DIR must exist)."""
    config_dir.mkdir(parents=True, exist_ok=True)
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
        NEWSFLOW_ARCHIVE_URL=str(config_dir.parent / "archive"),  # not the checkout's .newsflow
        PYTHONPATH=f"{NETGUARD}{os.pathsep}{ROOT}",  # NETGUARD: the connect tripwire
    )
    env.update(extra)
    return env


def write_feeds(config_dir: Path, feed_urls: list[str]) -> None:
    config_dir.mkdir(parents=True, exist_ok=True)
    body = "".join(f'[[feeds]]\nurl = "{url}"\n\n' for url in feed_urls)
    (config_dir / "feeds.toml").write_text(body, encoding="utf-8")


def newsflow(*args: str) -> list[str]:
    return [sys.executable, "-m", "workers.cli.main", *args]


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
    urls: list[str] = []
    for raw in client.lrange(keys.TASK_QUEUE, 0, -1):
        message = json.loads(raw)
        args = json.loads(base64.b64decode(message["body"]))[0]
        urls += [m["url"] for m in (args[0] if isinstance(args[0], list) else args)]
    return urls
