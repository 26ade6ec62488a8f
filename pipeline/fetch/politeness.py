"""Politeness shared by every worker through Redis; the only module that imports protego.

- A per-host rate limit (GCRA: requests start at least ``1 / rate`` seconds apart, with a
  burst allowance) and a per-host cap on requests in flight, taken atomically by one Lua script.
- A per-host cooldown set from 429/503 ``Retry-After``: nobody fetches that host until it ends.
- robots.txt fetched once per origin by one process, cached in Redis with a TTL, honoured
  (disallow and Crawl-delay) by all.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import redis
from protego import Protego

from pipeline import keys
from pipeline.connection import LuaScript, redis_errors
from pipeline.errors import (
    BlockedByRobots,
    FetchRefused,
    HostThrottled,
    UpstreamUnavailable,
)
from pipeline.fetch.client import Fetcher, fetch_page
from pipeline.models import Page
from pipeline.settings import FetchSettings

_GATE = LuaScript(
    "pipeline.fetch",
    "host_gate.lua",
    keys=("schedule", "slots", "cooldown"),
    args=("interval_ms", "burst", "max_concurrent", "lease_ms", "token"),
)
_COOLDOWN = LuaScript("pipeline.fetch", "host_cooldown.lua", keys=("cooldown",), args=("ms",))
_ROBOTS_MAX_BYTES = 512 * 1024
_ROBOTS_TYPES = ("text/plain", "text/html", "application/octet-stream", "text/x-robots")


def host_of(url: str) -> str:
    """The politeness key of a URL: its lower-cased host name."""
    return (urlsplit(url).hostname or "").lower()


class HostGate:
    """Cluster-wide per-host rate limit, concurrency cap and cooldown. One per process."""

    def __init__(self, client: redis.Redis, settings: FetchSettings) -> None:
        self._redis = client
        self._settings = settings

    @contextlib.contextmanager
    def slot(self, url: str, *, rate: float | None = None) -> Iterator[None]:
        """Hold one request slot for the URL's host while the body runs.

        Waits up to ``max_throttle_wait_s`` for the slot.

        Raises:
            HostThrottled: the host will not be free soon enough; retry after ``retry_after``.
            RedisUnavailable: Redis could not be reached.
        """
        host = host_of(url)
        token = self._acquire(host, rate or self._settings.rate_per_host, url)
        try:
            yield
        finally:
            with contextlib.suppress(redis.RedisError):
                self._redis.zrem(keys.host_slots(host), token)

    def cool_down(self, url: str, seconds: float) -> None:
        """Stop every worker from fetching the URL's host for ``seconds``.

        Raises:
            RedisUnavailable: Redis could not be reached.
        """
        ms = max(1, int(seconds * 1000))
        self._run(_COOLDOWN, {"cooldown": keys.host_cooldown(host_of(url))}, {"ms": ms}, url)

    def _acquire(self, host: str, rate: float, url: str) -> str:
        token = uuid.uuid4().hex
        script_keys = {
            "schedule": keys.host_schedule(host),
            "slots": keys.host_slots(host),
            "cooldown": keys.host_cooldown(host),
        }
        args = {
            "interval_ms": max(1, int(1000 / rate)),
            "burst": self._settings.burst_per_host,
            "max_concurrent": self._settings.max_concurrent_per_host,
            "lease_ms": int((self._settings.deadline_s + 10) * 1000),
            "token": token,
        }
        give_up = time.monotonic() + self._settings.max_throttle_wait_s
        while True:
            wait_s = int(self._run(_GATE, script_keys, args, url)) / 1000
            if wait_s == 0:
                return token
            if time.monotonic() + wait_s > give_up:
                raise HostThrottled(
                    f"{host} is throttled for {wait_s:.1f} s", url=url, retry_after=max(1.0, wait_s)
                )
            time.sleep(wait_s)

    def _run(
        self, script: LuaScript, script_keys: dict[str, str], args: dict[str, Any], url: str
    ) -> Any:
        with redis_errors("host gate unavailable", url=url):
            return script(self._redis, script_keys, args)


class RobotsCache:
    """robots.txt rules per origin, fetched once for the whole cluster and cached in Redis.

    Each process also keeps the bodies it read for ``LOCAL_TTL_S`` (most articles come from
    a few origins: this saves a Redis round trip per article).
    """

    LOCAL_TTL_S = 60.0
    LOCAL_MAX = 1024

    def __init__(self, client: redis.Redis, fetcher: Fetcher, gate: HostGate) -> None:
        self._redis = client
        self._fetcher = fetcher
        self._gate = gate
        self._agent = fetcher.settings.user_agent.split("/")[0].strip() or "*"
        self._local: dict[str, tuple[float, str]] = {}

    def check(self, url: str) -> float | None:
        """Refuse a disallowed URL; return the origin's Crawl-delay in seconds, if any.

        Raises:
            BlockedByRobots: robots.txt disallows the URL for our user agent.
            UpstreamUnavailable, FetchTimeout, HostThrottled: robots.txt could not be read
                now (retry later: an unreachable robots.txt never allows or drops).
            RedisUnavailable: Redis could not be reached.
        """
        rules = _parse_robots(self._robots_body(url))
        if not rules.can_fetch(url, self._agent):
            raise BlockedByRobots("disallowed by robots.txt", url=url)
        delay = rules.crawl_delay(self._agent)
        return float(delay) if delay else None

    def _robots_body(self, url: str) -> str:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1].lower()}"
        now = time.monotonic()
        expires, body = self._local.get(origin, (0.0, ""))
        if now < expires:
            return body
        body = self._shared_body(origin, url)
        if len(self._local) >= self.LOCAL_MAX:
            self._local.clear()
        self._local[origin] = (now + self.LOCAL_TTL_S, body)
        return body

    def _shared_body(self, origin: str, url: str) -> str:
        key = keys.robots(origin)
        with redis_errors("robots cache unavailable", url=url):
            cached = self._redis.get(key)
            if cached is None and not self._redis.set(
                keys.robots_lock(origin), "1", nx=True, px=15_000
            ):
                cached = self._wait_for(key)
        if cached is not None:
            return cached.decode("utf-8", "replace") if isinstance(cached, bytes) else str(cached)
        try:
            with redis_errors("robots cache unavailable", url=url):
                body = self._download(origin)
                self._redis.set(key, body, ex=self._fetcher.settings.robots_ttl_s)
        finally:
            with contextlib.suppress(redis.RedisError):
                self._redis.delete(keys.robots_lock(origin))
        return body

    def _wait_for(self, key: str) -> Any:
        """Another process is fetching this robots.txt: wait for its result briefly."""
        give_up = time.monotonic() + self._fetcher.settings.deadline_s
        while time.monotonic() < give_up:
            value = self._redis.get(key)
            if value is not None:
                return value
            time.sleep(0.1)
        return None

    def _download(self, origin: str) -> str:
        robots_url = f"{origin}/robots.txt"
        try:
            with self._gate.slot(robots_url):
                response = self._fetcher.get(
                    robots_url, max_bytes=_ROBOTS_MAX_BYTES, accept=_ROBOTS_TYPES
                )
        except FetchRefused:
            return ""  # 4xx, not text, or too large: no usable rules means allowed (RFC 9309)
        return response.body.decode("utf-8", "replace")


@lru_cache(maxsize=256)
def _parse_robots(body: str) -> Protego:
    return Protego.parse(body)


def fetch_page_politely(
    url: str,
    *,
    fetcher: Fetcher,
    gate: HostGate,
    robots: RobotsCache | None,
    headers: Mapping[str, str] | None = None,
    proxy: str = "",
) -> Page:
    """Fetch a page within robots.txt, the host's shared rate limit and any cooldown.

    A 429 or 503 answer puts the host in cooldown for every worker (``Retry-After``, else
    ``cooldown_s``) before the error goes up.

    Raises:
        BlockedByRobots: robots.txt disallows the URL.
        HostThrottled: the host is not free soon enough.
        BlockedDestination, FetchRefused, FetchTimeout, UpstreamUnavailable: see Fetcher.get.
        RedisUnavailable: Redis could not be reached.
    """
    settings = fetcher.settings
    rate = settings.rate_per_host
    if robots is not None:
        delay = robots.check(url)
        if delay:
            rate = min(rate, 1.0 / min(delay, settings.max_crawl_delay_s))
    with gate.slot(url, rate=rate):
        try:
            return fetch_page(fetcher, url, headers=headers, proxy=proxy)
        except UpstreamUnavailable as exc:
            if exc.status in (429, 503):
                gate.cool_down(url, exc.retry_after or settings.cooldown_s)
            raise
