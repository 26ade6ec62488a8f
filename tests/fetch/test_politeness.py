"""Cluster-wide politeness against a real Redis and a local site."""

from __future__ import annotations

import contextlib
import gzip
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
import redis

from pipeline import keys
from pipeline.errors import (
    BlockedByRobots,
    BlockedDestination,
    FetchTimeout,
    HostThrottled,
    UpstreamUnavailable,
)
from pipeline.fetch.client import Fetcher
from pipeline.fetch.politeness import HostGate, RobotsCache, fetch_page_politely, host_of
from pipeline.local.site import LocalSite
from pipeline.settings import FetchSettings
from tests.commands import FIXTURES
from tests.factories import respond
from tests.fetch.local_proxy import LocalProxy

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


def test_feed_headers_and_proxy(redis_client: redis.Redis, fixture_site: LocalSite) -> None:
    """Per-feed headers reach the origin, through a proxy too (a CONNECT tunnel to the
    validated address, tests/fetch/test_proxy.py); the SSRF check runs before anything is
    sent to the proxy."""
    seen: list[tuple[str, str]] = []

    def record(request: BaseHTTPRequestHandler) -> None:
        seen.append((request.path, request.headers.get("Cookie", "")))
        respond(200, PAGE)(request)

    proxy = LocalProxy().start()
    fixture_site.routes["/page"] = record
    fetcher = Fetcher(fetch_settings(rate_per_host=100))
    gate = HostGate(redis_client, fetcher.settings)
    url = fixture_site.url("/page")
    try:
        fetch_page_politely(
            url, fetcher=fetcher, gate=gate, robots=None, headers={"Cookie": "consent=yes"}
        )
        fetch_page_politely(
            url,
            fetcher=fetcher,
            gate=gate,
            robots=None,
            headers={"Cookie": "via=proxy"},
            proxy=proxy.url,
        )
        with pytest.raises(BlockedDestination):
            fetch_page_politely(
                "http://10.0.0.1/page",
                fetcher=fetcher,
                gate=gate,
                robots=None,
                proxy=proxy.url,
            )
    finally:
        fetcher.close()
        proxy.stop()
    assert seen == [("/page", "consent=yes"), ("/page", "via=proxy")]
    assert [line.split(" ")[:2] for line in proxy.seen] == [
        ["CONNECT", fixture_site.base_url.removeprefix("http://")]
    ]


# --- redirects: every hop through the gate (issue #15, point 15) ----------------------------


@pytest.fixture
def second_site() -> Iterator[LocalSite]:
    """Another host, 127.0.0.2 (loopback, allowed in these settings)."""
    site = LocalSite(FIXTURES, host="127.0.0.2").start()
    yield site
    site.stop()


def moved(location: str) -> Any:
    return respond(302, b"", "text/plain", headers=(("Location", location),))


def test_redirect_target_must_pass_its_own_robots_txt(
    redis_client: redis.Redis, fixture_site: LocalSite, second_site: LocalSite
) -> None:
    fixture_site.routes["/robots.txt"] = respond(200, b"User-agent: *\nAllow: /\n", "text/plain")
    fixture_site.routes["/go"] = moved(second_site.url("/private/page"))
    second_site.routes["/robots.txt"] = respond(
        200, b"User-agent: *\nDisallow: /private/\n", "text/plain"
    )
    second_site.routes["/private/page"] = respond(200, PAGE)
    fetcher = Fetcher(fetch_settings(rate_per_host=100))
    gate = HostGate(redis_client, fetcher.settings)
    robots = RobotsCache(redis_client, fetcher, gate)
    try:
        with pytest.raises(BlockedByRobots) as caught:
            fetch_page_politely(fixture_site.url("/go"), fetcher=fetcher, gate=gate, robots=robots)
    finally:
        fetcher.close()
    assert caught.value.url == second_site.url("/private/page")
    assert [path for _, path in second_site.requests] == ["/robots.txt"]
    assert fixture_site.count("/go") == 1 and fixture_site.count("/robots.txt") == 1


def test_redirect_target_waits_for_a_slot_of_its_own_host(
    redis_client: redis.Redis, fixture_site: LocalSite, second_site: LocalSite
) -> None:
    """The second host's concurrency cap holds: its only slot is taken, so the hop waits
    and gives up; the first host's slot is free again meanwhile."""
    fixture_site.routes["/go"] = moved(second_site.url("/page"))
    second_site.routes["/page"] = respond(200, PAGE)
    settings = fetch_settings(rate_per_host=100, max_concurrent_per_host=1, max_throttle_wait_s=0.3)
    fetcher = Fetcher(settings)
    gate = HostGate(redis_client, settings)
    try:
        with gate.slot(second_site.url("/busy")), pytest.raises(HostThrottled) as caught:
            fetch_page_politely(fixture_site.url("/go"), fetcher=fetcher, gate=gate, robots=None)
        assert "127.0.0.2" in str(caught.value)
        assert second_site.count("/page") == 0
        assert redis_client.zcard(keys.host_slots("127.0.0.1")) == 0
        page = fetch_page_politely(fixture_site.url("/go"), fetcher=fetcher, gate=gate, robots=None)
    finally:
        fetcher.close()
    assert page.final_url == second_site.url("/page")
    assert redis_client.zcard(keys.host_slots("127.0.0.2")) == 0  # released at the end


def test_redirect_target_takes_its_hosts_rate_slot(
    redis_client: redis.Redis, fixture_site: LocalSite, second_site: LocalSite
) -> None:
    fixture_site.routes["/go"] = moved(second_site.url("/page"))
    second_site.routes["/page"] = respond(200, PAGE)
    settings = fetch_settings(rate_per_host=0.5, max_throttle_wait_s=0.3)
    fetcher = Fetcher(settings)
    gate = HostGate(redis_client, settings)
    try:
        fetch_page_politely(fixture_site.url("/go"), fetcher=fetcher, gate=gate, robots=None)
    finally:
        fetcher.close()
    assert second_site.count("/page") == 1
    with pytest.raises(HostThrottled), gate.slot(second_site.url("/next")):
        pass  # 127.0.0.2 was fetched just now: its next request is 2 s away


def test_429_on_a_redirect_target_cools_that_host_down(
    redis_client: redis.Redis, fixture_site: LocalSite, second_site: LocalSite
) -> None:
    fixture_site.routes["/go"] = moved(second_site.url("/busy"))
    second_site.routes["/busy"] = respond(429, b"slow down", headers=(("Retry-After", "10"),))
    fetcher = Fetcher(fetch_settings(rate_per_host=100))
    gate = HostGate(redis_client, fetcher.settings)
    try:
        with pytest.raises(UpstreamUnavailable):
            fetch_page_politely(fixture_site.url("/go"), fetcher=fetcher, gate=gate, robots=None)
    finally:
        fetcher.close()
    assert 9000 < int(redis_client.pttl(keys.host_cooldown("127.0.0.2"))) <= 10000
    assert not redis_client.exists(keys.host_cooldown("127.0.0.1"))


def test_same_host_redirects_keep_their_slot(
    redis_client: redis.Redis, fixture_site: LocalSite
) -> None:
    """/a -> /b -> /c on one host is one visit: no second wait of 1 / rate (5 s here)."""
    redis_client.set(keys.robots(fixture_site.base_url), "User-agent: *\nDisallow: /x/\n")
    fixture_site.routes["/a"] = moved("/b")
    fixture_site.routes["/b"] = moved("/c")
    fixture_site.routes["/c"] = respond(200, PAGE)
    fixture_site.routes["/d"] = moved("/x/secret")
    settings = fetch_settings(rate_per_host=0.2, max_throttle_wait_s=0.5)
    fetcher = Fetcher(settings)
    gate = HostGate(redis_client, settings)
    robots = RobotsCache(redis_client, fetcher, gate)
    try:
        page = fetch_page_politely(
            fixture_site.url("/a"), fetcher=fetcher, gate=gate, robots=robots
        )
        assert page.final_url == fixture_site.url("/c")
        redis_client.delete(keys.host_schedule("127.0.0.1"))
        with pytest.raises(BlockedByRobots):  # robots.txt is still checked on every hop
            fetch_page_politely(fixture_site.url("/d"), fetcher=fetcher, gate=gate, robots=robots)
    finally:
        fetcher.close()
    assert fixture_site.count("/x/secret") == 0


def test_the_deadline_covers_the_whole_chain(
    redis_client: redis.Redis, fixture_site: LocalSite, second_site: LocalSite
) -> None:
    """Waiting 2 s for the second host's slot overruns a 1 s deadline: no request is sent."""
    fixture_site.routes["/go"] = moved(second_site.url("/page"))
    second_site.routes["/page"] = respond(200, PAGE)
    settings = fetch_settings(rate_per_host=0.5, max_throttle_wait_s=5, deadline_s=1.0)
    fetcher = Fetcher(settings)
    gate = HostGate(redis_client, settings)
    try:
        fetch_page_politely(second_site.url("/page"), fetcher=fetcher, gate=gate, robots=None)
        started = time.monotonic()
        with pytest.raises(FetchTimeout):
            fetch_page_politely(fixture_site.url("/go"), fetcher=fetcher, gate=gate, robots=None)
    finally:
        fetcher.close()
    assert time.monotonic() - started < 3.0
    assert second_site.count("/page") == 1


def test_undecodable_or_too_slow_robots_is_retried_not_allowed(
    redis_client: redis.Redis, fixture_site: LocalSite
) -> None:
    """A robots.txt that cannot be read is a server error (RFC 9309: assume disallow, retry
    later), not "no rules": the page's own permanent errors do not leak into robots."""
    stop = threading.Event()

    def drip(request: BaseHTTPRequestHandler) -> None:
        request.send_response(200)
        request.send_header("Content-Type", "text/plain")
        request.end_headers()
        with contextlib.suppress(OSError):
            for _ in range(50):
                request.wfile.write(b"#")
                if stop.wait(0.2):
                    break

    fixture_site.routes["/robots.txt"] = respond(
        200,
        gzip.compress(b"User-agent: *")[:10] + b"\xff" * 64,
        "text/plain",
        headers=(("Content-Encoding", "gzip"),),
    )
    fetcher = Fetcher(fetch_settings(rate_per_host=100, deadline_s=1.0))
    cache = RobotsCache(redis_client, fetcher, HostGate(redis_client, fetcher.settings))
    try:
        with pytest.raises(UpstreamUnavailable):
            cache.check(fixture_site.url("/a"))
        fixture_site.routes["/robots.txt"] = drip
        with pytest.raises(FetchTimeout):
            cache.check(fixture_site.url("/a"))
    finally:
        stop.set()
        fetcher.close()
    assert redis_client.get(keys.robots(fixture_site.base_url)) is None


def test_robots_of_a_new_origin_on_the_held_host_is_read_under_the_held_slot(
    redis_client: redis.Redis, fixture_site: LocalSite, tmp_path: Any
) -> None:
    """127.0.0.1:A -> 127.0.0.1:B (http -> https, in real life): one host, a new origin whose
    robots.txt is read under the slot the fetch holds, not a second one it would wait for."""
    other_port = LocalSite(tmp_path).start()  # same host, another port: another origin
    other_port.routes["/robots.txt"] = respond(200, b"User-agent: *\nAllow: /\n", "text/plain")
    other_port.routes["/page"] = respond(200, PAGE)
    fixture_site.routes["/robots.txt"] = respond(200, b"User-agent: *\nAllow: /\n", "text/plain")
    fixture_site.routes["/go"] = moved(other_port.url("/page"))
    settings = fetch_settings(rate_per_host=100, max_concurrent_per_host=1, max_throttle_wait_s=1)
    fetcher = Fetcher(settings)
    gate = HostGate(redis_client, settings)
    robots = RobotsCache(redis_client, fetcher, gate)
    try:
        page = fetch_page_politely(
            fixture_site.url("/go"), fetcher=fetcher, gate=gate, robots=robots
        )
    finally:
        fetcher.close()
        other_port.stop()
    assert page.final_url == other_port.url("/page")
    assert [path for _, path in other_port.requests] == ["/robots.txt", "/page"]
    assert redis_client.zcard(keys.host_slots("127.0.0.1")) == 0
