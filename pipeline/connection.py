"""Redis connections: built from a URL, checked, with the password masked in every error."""

from __future__ import annotations

import re

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
