"""Per-process resources: Settings, HTTP fetcher, Redis client, publisher, extractor options.

Settings are read once per process; the clients are built lazily (after a prefork child
starts) and closed at shutdown.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import redis
from trafilatura.settings import Extractor

from pipeline.extract import build_extractor
from pipeline.fetch import Fetcher
from pipeline.publish import Publisher
from pipeline.settings import Settings
from pipeline.store import connect_redis

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


@dataclass(frozen=True, slots=True)
class Resources:
    """Everything a task needs, built once per worker process."""

    settings: Settings
    fetcher: Fetcher
    redis: redis.Redis
    publisher: Publisher
    extractor: Extractor


_current: Resources | None = None
_pid: int | None = None


def get() -> Resources:
    """This process's resources, built on first use (and again after a fork)."""
    global _current, _pid
    if _current is None or _pid != os.getpid():
        conf = settings()
        client = connect_redis(conf.redis_url)
        _current = Resources(
            settings=conf,
            fetcher=Fetcher(conf.fetch),
            redis=client,
            publisher=Publisher(client, conf),
            extractor=build_extractor(conf.extract),
        )
        _pid = os.getpid()
    return _current


def close() -> None:
    """Close this process's clients, if built."""
    global _current
    if _current is not None:
        _current.fetcher.close()
        _current.redis.close()
        _current = None
