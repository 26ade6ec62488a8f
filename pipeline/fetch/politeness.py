"""Politeness shared by every worker through Redis; the only module that imports protego.

- A per-host rate limit (GCRA: requests start at least ``1 / rate`` seconds apart, with a
  burst allowance) and a per-host cap on requests in flight, taken atomically by one Lua script.
- A per-host cooldown set from 429/503 ``Retry-After``: nobody fetches that host until it ends.
- robots.txt fetched once per origin by one process, cached in Redis with a TTL, honoured
  (disallow and Crawl-delay) by all.
- All of it hop by hop (:func:`polite_hops`): a redirect's target passes its own robots.txt
  and takes a slot of its own host, inside the fetch's one deadline.
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
    FetchTimeout,
    HostThrottled,
    TooSlow,
    UndecodableBody,
    UpstreamUnavailable,
)
from pipeline.fetch.client import Fetcher, HopGate, fetch_page
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

    def check(self, url: str, *, holding: str | None = None) -> float | None:
        """Refuse a disallowed URL; return the origin's Crawl-delay in seconds, if any.

        ``holding``: the caller holds a slot of this host, so a robots.txt download from it
        goes under that slot (waiting for a second one could wait for our own).

        Raises:
            BlockedByRobots: robots.txt disallows the URL for our user agent.
            UpstreamUnavailable, FetchTimeout, HostThrottled: robots.txt could not be read
                now (retry later: an unreachable robots.txt never allows or drops).
            RedisUnavailable: Redis could not be reached.
        """
        rules = _parse_robots(self._robots_body(url, holding))
        if not rules.can_fetch(url, self._agent):
            raise BlockedByRobots("disallowed by robots.txt", url=url)
        delay = rules.crawl_delay(self._agent)
        return float(delay) if delay else None

    def _robots_body(self, url: str, holding: str | None) -> str:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1].lower()}"
        now = time.monotonic()
        expires, body = self._local.get(origin, (0.0, ""))
        if now < expires:
            return body
        body = self._shared_body(origin, url, holding)
        if len(self._local) >= self.LOCAL_MAX:
            self._local.clear()
        self._local[origin] = (now + self.LOCAL_TTL_S, body)
        return body

    def _shared_body(self, origin: str, url: str, holding: str | None) -> str:
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
                body = self._download(origin, holding)
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

    def _download(self, origin: str, holding: str | None) -> str:
        robots_url = f"{origin}/robots.txt"
        settings = self._fetcher.settings
        try:
            with polite_hops(self._gate, None, settings, holding=holding) as hops:
                response = self._fetcher.get(
                    robots_url, max_bytes=_ROBOTS_MAX_BYTES, accept=_ROBOTS_TYPES, hop_gate=hops
                )
        except UndecodableBody as exc:  # a server error, not "no rules": never allows
            raise UpstreamUnavailable(f"robots.txt: {exc.message}", url=robots_url) from exc
        except TooSlow as exc:
            raise FetchTimeout(f"robots.txt: {exc.message}", url=robots_url) from exc
        except FetchRefused:
            return ""  # 4xx, not text, or too large: no usable rules means allowed (RFC 9309)
        return response.body.decode("utf-8", "replace")


@lru_cache(maxsize=256)
def _parse_robots(body: str) -> Protego:
    return Protego.parse(body)


class _Hops:
    """The politeness state of one fetch, hop by hop (see :func:`polite_hops`)."""

    def __init__(
        self,
        gate: HostGate,
        robots: RobotsCache | None,
        settings: FetchSettings,
        holding: str | None,
    ) -> None:
        self._gate = gate
        self._robots = robots
        self._settings = settings
        self._host = holding  # the host whose slot this fetch runs under (None: no slot yet)
        self._slot = contextlib.ExitStack()

    @contextlib.contextmanager
    def hop(self, url: str) -> Iterator[None]:
        host = host_of(url)
        if host != self._host:
            self.release()  # done with the previous host before waiting for this one
        rate = self._settings.rate_per_host
        if self._robots is not None:
            delay = self._robots.check(url, holding=self._host)
            if delay:
                rate = min(rate, 1.0 / min(delay, self._settings.max_crawl_delay_s))
        if self._host is None:
            self._slot.enter_context(self._gate.slot(url, rate=rate))
            self._host = host
        try:
            yield
        except UpstreamUnavailable as exc:
            if exc.status in (429, 503):
                self._gate.cool_down(url, exc.retry_after or self._settings.cooldown_s)
            raise

    def release(self) -> None:
        self._host = None
        self._slot.close()


@contextlib.contextmanager
def polite_hops(
    gate: HostGate,
    robots: RobotsCache | None,
    settings: FetchSettings,
    *,
    holding: str | None = None,
) -> Iterator[HopGate]:
    """A ``hop_gate`` for one ``Fetcher.get`` and its redirects.

    Every hop's URL must pass robots.txt (when ``robots`` is given; its Crawl-delay slows
    the host) and runs in a slot of its own host (rate limit, concurrency cap, cooldown).
    Consecutive hops on one host are one visit and keep the slot they hold (a second wait in
    line would throttle every same-site redirect under a long Crawl-delay, on every retry).
    A 429 or 503 puts the hop's host in cooldown. The last slot is released when the block
    ends. ``holding``: a host whose slot the caller already holds (a robots.txt download in
    the middle of a fetch from that host), for hops on it to run under.

    The gate raises BlockedByRobots, HostThrottled, RedisUnavailable, and UpstreamUnavailable
    or FetchTimeout when a robots.txt cannot be read now.
    """
    hops = _Hops(gate, robots, settings, holding)
    try:
        yield hops.hop
    finally:
        hops.release()


def fetch_page_politely(
    url: str,
    *,
    fetcher: Fetcher,
    gate: HostGate,
    robots: RobotsCache | None,
    headers: Mapping[str, str] | None = None,
    proxy: str = "",
) -> Page:
    """Fetch a page within robots.txt, the host's shared rate limit and any cooldown, for the
    URL and every redirect target (:func:`polite_hops`).

    A 429 or 503 answer puts the host that gave it in cooldown for every worker
    (``Retry-After``, else ``cooldown_s``) before the error goes up.

    Raises:
        BlockedByRobots: robots.txt disallows the URL or a redirect target.
        HostThrottled: a host on the way is not free soon enough.
        BlockedDestination, FetchRefused, TooSlow, FetchTimeout, UpstreamUnavailable: see
            Fetcher.get.
        RedisUnavailable: Redis could not be reached.
    """
    with polite_hops(gate, robots, fetcher.settings) as hops:
        return fetch_page(fetcher, url, headers=headers, proxy=proxy, hop_gate=hops)
