"""Politeness and hostile origins with real Celery worker processes and a real Redis.

Every worker subprocess carries the tests' connect tripwire (tests/netguard): a connection
outside loopback is refused before a packet leaves and is written to a log we assert empty.
"""

from __future__ import annotations

import gzip
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import redis

from pipeline import keys
from pipeline.local.redis_server import RedisServer
from pipeline.local.site import LocalSite
from pipeline.streams.tail import outcome_counts
from tests.commands import poll_once, wait_for, worker_env, write_feeds
from tests.factories import article_page, respond, rss, serve_articles


def test_two_workers_share_the_per_host_rate_limit(
    redis_server: RedisServer,
    redis_client: redis.Redis,
    fixture_site: LocalSite,
    start_worker: Any,
    tmp_path: Path,
) -> None:
    rate, count = 4, 24
    paths = serve_articles(fixture_site, count)
    fixture_site.routes["/feed.xml"] = rss(fixture_site, paths)
    write_feeds(tmp_path, [fixture_site.url("/feed.xml")])
    env = worker_env(
        redis_server.url,
        tmp_path,
        NEWSFLOW_FETCH_RATE_PER_HOST=str(rate),
        NEWSFLOW_FETCH_MAX_CONCURRENT_PER_HOST="4",
    )
    start_worker(env)
    start_worker(env)
    poll_once(env)
    wait_for(
        lambda: outcome_counts(redis_client).get("published", 0) == count, 90, f"{count} articles"
    )
    per_second = Counter(int(t) for t, _ in fixture_site.requests)
    print(f"requests per second at rate {rate}: {sorted(per_second.values(), reverse=True)}")
    assert max(per_second.values()) <= rate + 1
    assert fixture_site.count("/robots.txt") == 1


def test_retry_after_stops_every_worker_then_recovers(
    redis_server: RedisServer,
    redis_client: redis.Redis,
    fixture_site: LocalSite,
    start_worker: Any,
    tmp_path: Path,
) -> None:
    paths = serve_articles(fixture_site, 8)
    fixture_site.routes["/feed.xml"] = rss(fixture_site, paths)
    busy_at: list[float] = []
    ok = fixture_site.routes["/news/0"]

    def busy_once(request: BaseHTTPRequestHandler) -> None:
        if busy_at:
            ok(request)
            return
        busy_at.append(time.time())
        respond(429, b"slow down", headers=(("Retry-After", "10"),))(request)

    fixture_site.routes["/news/0"] = busy_once
    write_feeds(tmp_path, [fixture_site.url("/feed.xml")])
    env = worker_env(redis_server.url, tmp_path, NEWSFLOW_FETCH_RATE_PER_HOST="3")
    start_worker(env)
    start_worker(env)
    poll_once(env)
    wait_for(lambda: outcome_counts(redis_client).get("published", 0) == 8, 90, "8 articles")
    (t429,) = busy_at
    during = [round(t - t429, 2) for t, _ in fixture_site.requests if t429 + 0.5 <= t < t429 + 10]
    assert during == [], f"requests during the 10 s cooldown at {during}"
    assert any(t >= t429 + 10 for t, p in fixture_site.requests if p == "/news/0")


def test_robots_disallow_is_a_recorded_drop(
    redis_server: RedisServer,
    redis_client: redis.Redis,
    fixture_site: LocalSite,
    start_worker: Any,
    tmp_path: Path,
) -> None:
    fixture_site.routes["/robots.txt"] = respond(
        200, b"User-agent: *\nDisallow: /private/\n", "text/plain"
    )
    paths = ["/news/1", "/private/2"]
    for n, path in enumerate(paths):
        fixture_site.routes[path] = respond(200, article_page(fixture_site, n, path))
    fixture_site.routes["/feed.xml"] = rss(fixture_site, paths)
    write_feeds(tmp_path, [fixture_site.url("/feed.xml")])
    env = worker_env(redis_server.url, tmp_path)
    start_worker(env)
    poll_once(env)
    wait_for(lambda: sum(outcome_counts(redis_client).values()) == 2, 60, "two outcomes")
    [(_, event)] = redis_client.xrange(keys.EVENTS_STREAM)
    assert event[b"reason"] == b"blocked_by_robots"
    assert event[b"url"].decode() == fixture_site.url("/private/2")
    assert fixture_site.count("/private/2") == 0


# --- hostile origins ------------------------------------------------------------------------


@pytest.fixture
def internal_listener() -> Iterator[tuple[int, list[str]]]:
    """A server on 127.0.0.1 playing an internal service: it records every connection."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    hits: list[str] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, peer = server.accept()
            except TimeoutError:
                continue
            hits.append(str(peer))
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], hits
    stop.set()
    thread.join()
    server.close()


def drip(request: BaseHTTPRequestHandler) -> None:
    request.send_response(200)
    request.send_header("Content-Type", "text/html")
    request.end_headers()
    try:
        for _ in range(120):
            request.wfile.write(b"<p>x")
            request.wfile.flush()
            time.sleep(0.5)
    except OSError:
        pass


def endless(request: BaseHTTPRequestHandler) -> None:
    request.send_response(200)
    request.send_header("Content-Type", "text/html")
    request.end_headers()
    chunk = b"<p>" + b"a" * 65_536
    try:
        for _ in range(16_384):  # 1 GiB at most
            request.wfile.write(chunk)
    except OSError:
        pass


def gzip_bomb() -> bytes:
    return gzip.compress(b"\0" * (256 * 1024 * 1024), compresslevel=9)


def redirect(location: str) -> Any:
    return respond(302, b"", headers=(("Location", location),))


def worker_peak_rss_mb(pid: int) -> float:
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(c) for c in children.read_text().split()]
    peaks = []
    for p in pids:
        status = Path(f"/proc/{p}/status")
        if status.exists():
            line = next(x for x in status.read_text().splitlines() if x.startswith("VmHWM"))
            peaks.append(int(line.split()[1]) / 1024)
    return max(peaks)


def test_hostile_origins_end_with_a_reason_and_touch_nothing_internal(
    redis_server: RedisServer,
    redis_client: redis.Redis,
    start_worker: Any,
    tmp_path: Path,
    internal_listener: tuple[int, list[str]],
) -> None:
    port, internal_hits = internal_listener
    site = LocalSite(tmp_path, host="127.0.0.2").start()  # 127.0.0.1 plays "internal"
    bad_charset = (
        "<html><head><meta charset='x-bogus'></head><body><article><p>"
        + "Le café était fermé à cause de la grève. " * 12
        + "</p></article></body></html>"
    ).encode("cp1252")
    expected = {
        "/drip": ("dropped", b"too_slow"),
        "/bomb": ("dropped", b"fetch_refused"),
        "/huge": ("dropped", b"fetch_refused"),
        "/loop": ("dropped", b"fetch_refused"),
        "/to-internal": ("dropped", b"blocked_destination"),
        "/to-metadata": ("dropped", b"blocked_destination"),
        "/to-private": ("dropped", b"blocked_destination"),
        "/to-file": ("dropped", b"blocked_destination"),
        "/image": ("dropped", b"fetch_refused"),
        "/charset": ("published", b""),
    }
    site.routes.update(
        {
            "/drip": drip,
            "/bomb": respond(200, gzip_bomb(), headers=(("Content-Encoding", "gzip"),)),
            "/huge": endless,
            "/loop": redirect("/loop"),
            "/to-internal": redirect(f"http://127.0.0.1:{port}/admin"),
            "/to-metadata": redirect("http://169.254.169.254/latest/meta-data/"),
            "/to-private": redirect("http://10.0.0.1/"),
            "/to-file": redirect("file:///etc/passwd"),
            "/image": respond(200, b"\x89PNG\r\n\x1a\n" + b"\0" * 1000, "image/png"),
            "/charset": respond(200, bad_charset, "text/html; charset=x-bogus"),
        }
    )
    site.routes["/feed.xml"] = rss(site, list(expected))
    write_feeds(tmp_path, [site.url("/feed.xml")])
    tripwire_log = tmp_path / "tripwire.log"
    env = worker_env(
        redis_server.url,
        tmp_path,
        NEWSFLOW_FETCH_ALLOW="127.0.0.2/32",
        NEWSFLOW_FETCH_DEADLINE_S="3",
        NEWSFLOW_FETCH_READ_TIMEOUT_S="2",
        NEWSFLOW_WORKER_MAX_RETRIES="1",
        NEWSFLOW_WORKER_RETRY_BACKOFF_MAX_S="1",
        NEWSFLOW_TEST_TRIPWIRE_LOG=str(tripwire_log),
    )
    try:
        worker = start_worker(env)
        started = time.monotonic()
        poll_once(env)
        wait_for(
            lambda: sum(outcome_counts(redis_client).values()) == len(expected),
            90,
            "an outcome for every hostile URL",
        )
        elapsed = time.monotonic() - started
        peak_mb = worker_peak_rss_mb(worker.pid)
    finally:
        site.stop()
    events = {
        f[b"url"].decode().split("/", 3)[3]: f for _, f in redis_client.xrange(keys.EVENTS_STREAM)
    }
    events |= {
        f[b"url"].decode().split("/", 3)[3]: f for _, f in redis_client.xrange(keys.DEAD_STREAM)
    }
    for path, (kind, reason) in expected.items():
        if kind == "published":
            continue
        event = events["/".join(path.split("/")[1:])]
        assert (event[b"type"].decode(), event[b"reason"]) == (kind, reason), path
    [(_, published)] = redis_client.xrange(keys.ARTICLES_STREAM)
    assert b"caf\\u00e9" in published[b"body"] or "café".encode() in published[b"body"]
    print(f"hostile set: {elapsed:.1f} s, worker peak RSS {peak_mb:.0f} MB")
    assert peak_mb < 300
    assert internal_hits == []
    assert not tripwire_log.exists() or tripwire_log.read_text() == ""
