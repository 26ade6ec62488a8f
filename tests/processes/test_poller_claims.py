"""Several pollers share one schedule: a poller killed mid-round loses no due feed, and no
feed is polled by two pollers at once (real pollers, real Redis, a local site)."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import redis

from pipeline import keys
from pipeline.local.redis_server import RedisServer
from pipeline.local.site import LocalSite
from tests.commands import ROOT, newsflow, wait_for, worker_env, write_feeds
from tests.factories import respond

FEEDS = 40
DELAY_S = 0.4
BODY = b'<rss version="2.0"><channel><title>t</title></channel></rss>'


class Overlaps:
    """Per feed path: requests in flight now, the most at once, and requests started."""

    def __init__(self) -> None:
        self.now: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.started: Counter[str] = Counter()
        self.by_agent: Counter[str] = Counter()
        self.in_flight_by_agent: Counter[str] = Counter()
        self._lock = threading.Lock()

    def handler(self, path: str) -> object:
        answer = respond(200, BODY, "application/rss+xml", delay_s=DELAY_S)

        def handle(request: BaseHTTPRequestHandler) -> None:
            agent = request.headers.get("User-Agent", "")
            with self._lock:
                self.by_agent[agent] += 1
                self.in_flight_by_agent[agent] += 1
                self.now[path] += 1
                self.started[path] += 1
                self.peak[path] = max(self.peak[path], self.now[path])
            try:
                answer(request)
            finally:
                with self._lock:
                    self.now[path] -= 1
                    self.in_flight_by_agent[agent] -= 1

        return handle


def test_a_poller_killed_mid_round_loses_no_feed_and_none_is_polled_twice_at_once(
    redis_server: RedisServer,
    redis_client: redis.Redis,
    fixture_site: LocalSite,
    tmp_path: Path,
) -> None:
    overlaps = Overlaps()
    paths = [f"/claims/{i}.xml" for i in range(FEEDS)]
    for path in paths:
        fixture_site.routes[path] = overlaps.handler(path)
    urls = [fixture_site.url(p) for p in paths]
    write_feeds(tmp_path, urls)
    env = worker_env(
        redis_server.url,
        tmp_path,
        NEWSFLOW_POLLER_CONCURRENCY="4",
        NEWSFLOW_POLLER_MAX_POLLS_PER_HOST="4",
        NEWSFLOW_POLLER_CLAIM_TTL_S="4",
        NEWSFLOW_POLLER_LEASE_TTL_S="3",
    )
    pollers = [
        subprocess.Popen(
            newsflow("poller"),
            env={**env, "NEWSFLOW_FETCH_USER_AGENT": f"poller-{i}"},
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(2)
    ]
    try:
        wait_for(
            lambda: overlaps.by_agent["poller-1"] >= 2 and overlaps.in_flight_by_agent["poller-0"],
            60,
            "both pollers polling, the first with polls in flight",
        )
        pollers[0].send_signal(signal.SIGKILL)
        pollers[0].wait()
        killed_at = time.time()
        in_flight = sum(overlaps.now.values())

        def all_polled() -> bool:
            scores = redis_client.zmscore(keys.FEED_SCHEDULE, urls)
            return all(s is not None and s > killed_at + 60 for s in scores)

        wait_for(all_polled, 60, "every feed polled and scheduled again")
    finally:
        for poller in pollers:
            if poller.poll() is None:
                poller.terminate()
                poller.wait(timeout=30)
    assert in_flight, "the poller was killed mid-round"
    assert max(overlaps.peak.values()) == 1, f"polled twice at once: {overlaps.peak}"
    for url in urls:
        state = redis_client.hgetall(keys.feed_state(url))
        assert state[b"status"] == b"ok", (url, state)
    repolled = sum(1 for n in overlaps.started.values() if n > 1)
    print(f"\n{in_flight} polls in flight at the kill; {repolled} feeds polled again after it")
    assert repolled <= in_flight + 8, "only the killed poller's claimed feeds poll again"


def test_a_poller_keeps_its_heartbeat_while_a_round_outlasts_the_lease(
    redis_server: RedisServer,
    redis_client: redis.Redis,
    fixture_site: LocalSite,
    tmp_path: Path,
) -> None:
    """A round ends only when its running polls end; the heartbeat (and the lease) must be
    renewed meanwhile, or `doctor --poller` calls a busy poller dead."""
    fixture_site.routes["/slow.xml"] = respond(200, BODY, "application/rss+xml", delay_s=6)
    write_feeds(tmp_path, [fixture_site.url("/slow.xml")])
    env = worker_env(redis_server.url, tmp_path, NEWSFLOW_POLLER_LEASE_TTL_S="2")
    poller = subprocess.Popen(
        newsflow("poller"), env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for(lambda: fixture_site.count("/slow.xml") >= 1, 30, "the slow poll")
        beats = []
        for _ in range(16):  # 4 s of a 6 s poll, lease and heartbeat 2 s
            beats.append(bool(list(redis_client.scan_iter(keys.POLLER_HEARTBEAT_PREFIX + "*"))))
            time.sleep(0.25)
    finally:
        poller.terminate()
        poller.wait(timeout=30)
    assert all(beats), f"heartbeat missing during the poll: {beats}"
