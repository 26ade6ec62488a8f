"""Cluster-wide politeness against a real Redis and a local site."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
import redis

from pipeline import keys
from pipeline.errors import BlockedByRobots, BlockedDestination, HostThrottled, UpstreamUnavailable
from pipeline.fetch.client import Fetcher
from pipeline.fetch.politeness import HostGate, RobotsCache, fetch_page_politely, host_of
from pipeline.local.site import LocalSite
from pipeline.settings import FetchSettings
from tests.factories import respond

PAGE = b"<html><body><article><p>Polite page.</p></article></body></html>"


def fetch_settings(**changes: Any) -> FetchSettings:
    base: dict[str, Any] = {"allow": ("127.0.0.0/8",), "deadline_s": 5.0, "read_timeout_s": 2.0}
    return FetchSettings(**{**base, **changes})


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    f = Fetcher(fetch_settings())
    yield f
    f.close()


def test_rate_limit_is_shared_by_concurrent_clients(redis_client: redis.Redis) -> None:
    """Two "workers" (threads with their own gate) at 5 req/s: no second gets more than 5 + 1."""
    settings = fetch_settings(rate_per_host=5, max_concurrent_per_host=10, max_throttle_wait_s=30)
    starts: list[float] = []

    def worker() -> None:
        gate = HostGate(redis.Redis(connection_pool=redis_client.connection_pool), settings)
        for _ in range(10):
            with gate.slot("http://news.example/a"):
                starts.append(time.time())

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    per_second = Counter(int(s) for s in starts)
    assert len(starts) == 20 and max(per_second.values()) <= 6
    assert max(starts) - min(starts) >= (20 - 1) / 5 - 0.1


def test_concurrency_cap_and_lease(redis_client: redis.Redis) -> None:
    gate = HostGate(
        redis_client,
        fetch_settings(rate_per_host=1000, max_concurrent_per_host=2, max_throttle_wait_s=0.3),
    )
    with gate.slot("http://busy.example/1"), gate.slot("http://busy.example/2"):
        with pytest.raises(HostThrottled), gate.slot("http://busy.example/3"):
            pass
        with gate.slot("http://other.example/1"):
            pass
    with gate.slot("http://busy.example/4"):
        assert redis_client.zcard(keys.host_slots("busy.example")) == 1
    assert redis_client.zcard(keys.host_slots("busy.example")) == 0


def test_cooldown_stops_every_client(redis_client: redis.Redis) -> None:
    settings = fetch_settings(rate_per_host=1000, max_throttle_wait_s=0.5)
    HostGate(redis_client, settings).cool_down("http://slow.example/x", 3)
    other = HostGate(redis.Redis(connection_pool=redis_client.connection_pool), settings)
    with pytest.raises(HostThrottled) as caught, other.slot("http://slow.example/y"):
        pass
    assert 2 < caught.value.retry_after <= 3
    HostGate(redis_client, settings).cool_down("http://slow.example/x", 1)  # never shortens
    assert int(redis_client.pttl(keys.host_cooldown("slow.example"))) > 2000


def test_429_puts_the_host_in_cooldown(
    redis_client: redis.Redis, fixture_site: LocalSite, fetcher: Fetcher
) -> None:
    fixture_site.routes["/busy"] = respond(429, b"slow down", headers=(("Retry-After", "10"),))
    gate = HostGate(redis_client, fetcher.settings)
    with pytest.raises(UpstreamUnavailable):
        fetch_page_politely(fixture_site.url("/busy"), fetcher=fetcher, gate=gate, robots=None)
    ttl = int(redis_client.pttl(keys.host_cooldown(host_of(fixture_site.base_url))))
    assert 9000 < ttl <= 10000


ROBOTS = b"""User-agent: *
Disallow: /private/
Crawl-delay: 2

User-agent: otherbot
Disallow: /
"""


def test_robots_disallow_and_crawl_delay_fetched_once(
    redis_client: redis.Redis, fixture_site: LocalSite
) -> None:
    fixture_site.routes["/robots.txt"] = respond(200, ROBOTS, "text/plain")
    fixture_site.routes["/news/a"] = respond(200, PAGE)
    fetchers = [Fetcher(fetch_settings(rate_per_host=100)) for _ in range(2)]
    caches = [RobotsCache(redis_client, f, HostGate(redis_client, f.settings)) for f in fetchers]
    assert caches[0].check(fixture_site.url("/news/a")) == 2.0
    with pytest.raises(BlockedByRobots):
        caches[1].check(fixture_site.url("/private/x"))
    assert fixture_site.count("/robots.txt") == 1
    for f in fetchers:
        f.close()


def test_robots_rules_are_kept_in_the_process_for_a_minute(
    redis_client: redis.Redis, fixture_site: LocalSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    fixture_site.routes["/robots.txt"] = respond(200, ROBOTS, "text/plain")
    fetcher = Fetcher(fetch_settings(rate_per_host=100))
    robots = RobotsCache(redis_client, fetcher, HostGate(redis_client, fetcher.settings))
    robots.check(fixture_site.url("/news/a"))
    redis_client.set(keys.robots(fixture_site.base_url), "User-agent: *\nDisallow: /\n")
    assert robots.check(fixture_site.url("/news/b")) == 2.0  # the process's copy, no Redis read
    later = time.monotonic() + RobotsCache.LOCAL_TTL_S + 1
    monkeypatch.setattr(time, "monotonic", lambda: later)
    with pytest.raises(BlockedByRobots):  # a minute on: the shared copy again
        robots.check(fixture_site.url("/news/b"))
    assert fixture_site.count("/robots.txt") == 1
    fetcher.close()


def test_crawl_delay_slows_the_host(redis_client: redis.Redis, fixture_site: LocalSite) -> None:
    fixture_site.routes["/robots.txt"] = respond(
        200, b"User-agent: *\nCrawl-delay: 1\n", "text/plain"
    )
    fixture_site.routes["/p"] = respond(200, PAGE)
    fetcher = Fetcher(fetch_settings(rate_per_host=100, max_throttle_wait_s=10))
    gate = HostGate(redis_client, fetcher.settings)
    robots = RobotsCache(redis_client, fetcher, gate)
    started = time.monotonic()
    for _ in range(3):
        fetch_page_politely(fixture_site.url("/p"), fetcher=fetcher, gate=gate, robots=robots)
    assert time.monotonic() - started >= 1.9
    fetcher.close()


@pytest.mark.parametrize(("status", "allowed"), [(404, True), (403, True)])
def test_missing_robots_allows(
    status: int, allowed: bool, redis_client: redis.Redis, fixture_site: LocalSite, fetcher: Fetcher
) -> None:
    fixture_site.routes["/robots.txt"] = respond(status, b"no")
    cache = RobotsCache(redis_client, fetcher, HostGate(redis_client, fetcher.settings))
    assert cache.check(fixture_site.url("/anything")) is None
    assert redis_client.get(keys.robots(fixture_site.base_url)) == b""


def test_unreachable_robots_is_retried_not_allowed(
    redis_client: redis.Redis, fixture_site: LocalSite, fetcher: Fetcher
) -> None:
    fixture_site.routes["/robots.txt"] = respond(500, b"oops")
    cache = RobotsCache(redis_client, fetcher, HostGate(redis_client, fetcher.settings))
    with pytest.raises(UpstreamUnavailable):
        cache.check(fixture_site.url("/anything"))
    assert redis_client.get(keys.robots(fixture_site.base_url)) is None


def test_feed_headers_and_proxy(
    redis_client: redis.Redis, fixture_site: LocalSite, tmp_path: Any
) -> None:
    """Per-feed headers reach the origin; a proxy gets absolute-URI requests; the SSRF check
    still runs before anything is sent to the proxy."""
    seen: list[tuple[str, str]] = []

    def record(request: BaseHTTPRequestHandler) -> None:
        seen.append((request.path, request.headers.get("Cookie", "")))
        respond(200, PAGE)(request)

    proxy = LocalSite(tmp_path).start()
    proxy.routes["/page"] = record
    fixture_site.routes["/page"] = record
    fetcher = Fetcher(fetch_settings())
    gate = HostGate(redis_client, fetcher.settings)
    try:
        fetch_page_politely(
            fixture_site.url("/page"),
            fetcher=fetcher,
            gate=gate,
            robots=None,
            headers={"Cookie": "consent=yes"},
        )
        target = "http://127.0.0.3:9/page"  # nothing listens there: only the proxy answers
        fetch_page_politely(target, fetcher=fetcher, gate=gate, robots=None, proxy=proxy.base_url)
        with pytest.raises(BlockedDestination):
            fetch_page_politely(
                "http://10.0.0.1/page",
                fetcher=fetcher,
                gate=gate,
                robots=None,
                proxy=proxy.base_url,
            )
    finally:
        fetcher.close()
        proxy.stop()
    assert seen == [("/page", "consent=yes"), (target, "")]
