"""Helpers shared by the command-line modules: settings, Redis, errors, signals."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from typing import Any, NoReturn

import redis
import typer

from pipeline.connection import connect_redis
from pipeline.errors import ConfigError, RedisUnavailable
from pipeline.settings import Settings
from workers.logs import configure_logging


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``newsflow: message`` on stderr and exit with ``code``."""
    typer.echo(f"newsflow: {message}", err=True)
    raise typer.Exit(code)


def load_settings() -> Settings:
    """This process's settings, with logging configured; exit 2 on a bad configuration."""
    from workers import resources

    try:
        settings = resources.settings()
    except ConfigError as exc:
        fail(str(exc), code=2)
    configure_logging(settings.log_level, json_lines=settings.log_json)
    return settings


def require_redis(settings: Settings) -> redis.Redis:
    """A connected client; exit 1 within seconds, naming the (masked) URL, if unreachable."""
    try:
        return connect_redis(settings.redis_url, timeout_s=5.0)
    except RedisUnavailable as exc:
        fail(str(exc))


def prepare_metrics_dir() -> None:
    """Give this worker a fresh PROMETHEUS_MULTIPROC_DIR before prometheus_client loads.

    Every prefork process writes its samples there; the main process serves their sum.
    """
    path = Path(
        os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="newsflow-metrics-")
    )
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)


def stop_on_signals() -> threading.Event:
    """An event set by SIGINT or SIGTERM (for a graceful stop)."""
    stop = threading.Event()

    def handler(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop
