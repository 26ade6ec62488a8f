"""pipeline.connection: the one seam where redis-py errors become RedisUnavailable."""

from __future__ import annotations

import socket

import pytest
import redis

from pipeline.connection import LuaScript, mask_url, redis_errors
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


TAKE = LuaScript("pipeline.polling", "lease_take.lua", keys=("lease",), args=("owner", "ttl_ms"))


def test_lua_script_binds_names_and_survives_a_script_flush(redis_client: redis.Redis) -> None:
    assert TAKE(redis_client, {"lease": "newsflow:t"}, {"owner": "a", "ttl_ms": 5000}) == 1
    redis_client.script_flush()  # a restarted server has no scripts: EVAL once, then EVALSHA
    assert TAKE(redis_client, {"lease": "newsflow:t"}, {"owner": "b", "ttl_ms": 5000}) == 0
    assert redis_client.script_exists(TAKE.sha) == [True]
    assert TAKE.source.startswith("local K = {lease = KEYS[1]}\nlocal A = {owner = ARGV[1]")


def test_lua_script_refuses_missing_or_unknown_names(redis_client: redis.Redis) -> None:
    with pytest.raises(ValueError, match=r"lease_take.lua takes \['owner', 'ttl_ms'\]"):
        TAKE(redis_client, {"lease": "newsflow:t"}, {"owner": "a"})
    with pytest.raises(ValueError, match="lease_take.lua takes"):
        TAKE(redis_client, {"lease": "k", "other": "k2"}, {"owner": "a", "ttl_ms": 1})


# ------------------------------------------------------------------ mask_url (issue #15)


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("redis://:hunter2@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("redis://newsflow:hunter2@redis:6379/0", "redis://newsflow:***@redis:6379/0"),
        # An "@" inside the password: the host is after the last "@" (as urllib parses it).
        ("redis://:p@ss@host:6379/0", "redis://:***@host:6379/0"),
        ("redis://u:p@s@s@host", "redis://u:***@host"),
        # A "/" or ":" inside the password must not end the masking early.
        ("redis://:pa/ss@host:6379/0", "redis://:***@host:6379/0"),
        ("redis://:pa:ss@host", "redis://:***@host"),
        ("unix://:hunter2@/run/redis.sock?db=1", "unix://:***@/run/redis.sock?db=1"),
        # Passwords in the query string.
        ("redis://host:6379/0?password=hunter2", "redis://host:6379/0?password=***"),
        (
            "rediss://host/0?ssl_cert_reqs=required&pass=hunter2&AUTH=hunter2#x",
            "rediss://host/0?ssl_cert_reqs=required&pass=***&AUTH=***#x",
        ),
        ("redis://:a@host/0?Password=b&db=2", "redis://:***@host/0?Password=***&db=2"),
        # Nothing secret: unchanged.
        ("redis://localhost:6379/0", "redis://localhost:6379/0"),
        ("redis://user@host:6379", "redis://user@host:6379"),
        ("redis//x", "redis//x"),
        ("", ""),
    ],
)
def test_mask_url_hides_every_password(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_mask_url_never_raises_on_malformed_urls() -> None:
    for url in (
        "redis://:s3cret@[::1:6379/0",
        "redis://:s3cret@host:port/x",
        "redis://:s3cret@",
        "?password=s3cret",
    ):
        assert "s3cret" not in mask_url(url), url
