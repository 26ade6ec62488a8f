"""Per-process resources: Settings (read once) and the pipeline Services (built after fork)."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from pipeline.connection import connect_redis
from pipeline.process import Services
from pipeline.settings import Settings

DEFAULT_REDIS_URL = "redis://localhost:6379/0"
EMBEDDED_URL_FILE = "redis.url"
"""Written by ``newsflow run`` into data_dir while its embedded Redis runs."""


@cache
def settings() -> Settings:
    """This process's Settings, read once from config/ and the environment.

    Without a configured Redis URL: the embedded one of a running ``newsflow run``
    (``<data_dir>/redis.url``), else ``redis://localhost:6379/0``.
    """
    loaded = Settings.load(os.environ)
    if loaded.redis_url:
        return loaded
    url_file = Path(loaded.data_dir) / EMBEDDED_URL_FILE
    url = url_file.read_text().strip() if url_file.is_file() else DEFAULT_REDIS_URL
    return loaded.replace(redis_url=url)


_current: Services | None = None
_pid: int | None = None


def get() -> Services:
    """This process's services, built on first use (and again after a fork)."""
    global _current, _pid
    if _current is None or _pid != os.getpid():
        conf = settings()
        from workers.metrics import PrometheusHooks

        _current = Services.build(conf, connect_redis(conf.redis_url), PrometheusHooks())
        _pid = os.getpid()
    return _current


def close() -> None:
    """Close this process's clients, if built."""
    global _current
    if _current is not None:
        _current.close()
        _current = None
