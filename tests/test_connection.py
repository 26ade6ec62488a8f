"""pipeline.connection: the one seam where redis-py errors become RedisUnavailable."""

from __future__ import annotations

import socket

import pytest
import redis

from pipeline.connection import redis_errors
from pipeline.errors import RedisUnavailable


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_redis_errors_become_redis_unavailable_naming_what_failed() -> None:
    client = redis.Redis(port=_closed_port(), socket_connect_timeout=1)
    with (
        pytest.raises(RedisUnavailable) as caught,
        redis_errors("feed registry unavailable", url="https://a.example/"),
    ):
        client.get("newsflow:x")
    assert str(caught.value).startswith("feed registry unavailable: Error ")
    assert caught.value.url == "https://a.example/"
    assert isinstance(caught.value.__cause__, redis.ConnectionError)


def test_other_errors_pass_through(redis_client: redis.Redis) -> None:
    with pytest.raises(KeyError), redis_errors("x"):
        raise KeyError("not ours")
    with redis_errors("x"):
        assert redis_client.ping()
