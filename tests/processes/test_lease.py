"""One active poller: a Redis lease, and a standby that takes over when the holder dies."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import redis

from pipeline import keys
from pipeline.local.redis_server import RedisServer
from pipeline.local.site import LocalSite
from pipeline.polling.lease import Lease
from tests.commands import ROOT, newsflow, wait_for, worker_env, write_feeds
from tests.factories import rss


def test_lease_has_one_holder_and_expires(redis_client: redis.Redis) -> None:
    a = Lease(redis_client, "newsflow:test:lease", 0.5, owner="a")
    b = Lease(redis_client, "newsflow:test:lease", 0.5, owner="b")
    assert a.hold() and not b.hold() and a.hold()
    time.sleep(0.7)
    assert b.hold() and not a.hold()
    b.release()
    assert a.hold()


def test_standby_poller_takes_over_when_the_active_one_is_killed(
    redis_server: RedisServer,
    redis_client: redis.Redis,
    fixture_site: LocalSite,
    tmp_path: Path,
) -> None:
    fixture_site.routes["/feed.xml"] = rss(fixture_site, [])
    write_feeds(tmp_path, [fixture_site.url("/feed.xml")])
    env = worker_env(
        redis_server.url,
        tmp_path,
        NEWSFLOW_POLLER_INTERVAL_S="1",
        NEWSFLOW_POLLER_MIN_INTERVAL_S="1",
        NEWSFLOW_POLLER_LEASE_TTL_S="3",
    )
    pollers = [
        subprocess.Popen(
            newsflow("poller"),
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    try:
        wait_for(lambda: redis_client.get(keys.POLLER_LEASE) is not None, 30, "a lease holder")
        holder = redis_client.get(keys.POLLER_LEASE).decode()
        active = next(p for p in pollers if holder.endswith(f"-{p.pid}"))
        time.sleep(4)
        before = fixture_site.count("/feed.xml")
        time.sleep(5)
        polled = fixture_site.count("/feed.xml") - before
        assert 3 <= polled <= 7, f"{polled} polls in 5 s at a 1 s interval: one poller at a time"
        active.send_signal(signal.SIGKILL)
        active.wait()
        killed_at = time.monotonic()
        standby = next(p for p in pollers if p is not active)
        wait_for(
            lambda: (
                (redis_client.get(keys.POLLER_LEASE) or b"").decode().endswith(f"-{standby.pid}")
            ),
            10,
            "the standby to take the lease",
        )
        took_over_s = time.monotonic() - killed_at
        after = fixture_site.count("/feed.xml")
        wait_for(lambda: fixture_site.count("/feed.xml") > after, 10, "the standby to poll")
        print(f"\nstandby took over {took_over_s:.1f} s after the kill (lease 3 s)")
        assert took_over_s <= 3 + 1.5
    finally:
        for poller in pollers:
            if poller.poll() is None:
                poller.terminate()
                poller.wait(timeout=30)
