"""Redis connections: built from a URL, checked, with the password masked in every error;
the one place where redis-py errors become :class:`~pipeline.errors.RedisUnavailable`."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import redis

from pipeline.errors import RedisUnavailable


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``***``."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def connect_redis(url: str, *, timeout_s: float = 5.0) -> redis.Redis:
    """A Redis client for ``url``, answering PING within ``timeout_s``.

    Raises:
        RedisUnavailable: the server cannot be reached; the message names the masked URL.
    """
    try:
        client = redis.Redis.from_url(
            url,
            socket_connect_timeout=timeout_s,
            socket_timeout=max(timeout_s, 10.0),
            health_check_interval=25,
            retry_on_timeout=True,
        )
        client.ping()
    except (redis.RedisError, ValueError) as exc:
        raise RedisUnavailable(f"cannot reach Redis at {mask_url(url)}: {exc}") from exc
    return client


@contextlib.contextmanager
def redis_errors(what: str, *, url: str = "") -> Iterator[None]:
    """Translate a redis-py error inside the block into ``RedisUnavailable("<what>: <error>")``.

    Raises:
        RedisUnavailable: Redis could not be reached, timed out or refused the command.
    """
    try:
        yield
    except redis.RedisError as exc:
        raise RedisUnavailable(f"{what}: {exc}", url=url) from exc
