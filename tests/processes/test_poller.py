"""The poller process: concurrent polls within per-host limits, the schedule across restarts."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import redis

from pipeline import keys
from pipeline.fetch.client import Fetcher
from pipeline.fetch.politeness import HostGate, host_of
from pipeline.local.redis_server import RedisServer
from pipeline.local.site import LocalSite
from pipeline.models import FeedEntry
from pipeline.polling.poll import PollResult, poll_feed
from pipeline.settings import FeedConfig, Settings
from tests.commands import (
    FIXTURES,
    ROOT,
    newsflow,
    queued_entries,
    wait_for,
    worker_env,
    write_feeds,
)
from tests.factories import respond, rss
from workers.poller import run_polls

QUEUE = keys.TASK_QUEUE


@pytest.fixture
def second_host() -> Iterator[LocalSite]:
    """A second origin: 127.0.0.2 is another host for politeness."""
    site = LocalSite(FIXTURES, host="127.0.0.2").start()
    yield site
    site.stop()


class InFlight:
    """Counts requests in flight per host, and the most seen at once."""

    def __init__(self) -> None:
        self.now: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self._lock = threading.Lock()

    def slow_feed(self, site: LocalSite, delay_s: float) -> object:
        body = respond(200, b'<rss version="2.0"><channel><title>t</title></channel></rss>')

        def handler(request: BaseHTTPRequestHandler) -> None:
            with self._lock:
                self.now[site.host] += 1
                self.peak[site.host] = max(self.peak[site.host], self.now[site.host])
            time.sleep(delay_s)
            with self._lock:
                self.now[site.host] -= 1
            body(request)

        return handler


def test_polls_run_concurrently_within_the_per_host_limit(
    redis_client: redis.Redis,
    settings: Settings,
    fixture_site: LocalSite,
    second_host: LocalSite,
) -> None:
    flight = InFlight()
    feeds = []
    for site in (fixture_site, second_host):
        for n in range(6):
            site.routes[f"/slow-{n}.xml"] = flight.slow_feed(site, 0.3)
            feeds.append(FeedConfig(url=site.url(f"/slow-{n}.xml")))
    gate = HostGate(redis_client, settings.fetch)
    fetchers = threading.local()

    def poll(feed: FeedConfig) -> PollResult:
        if not hasattr(fetchers, "one"):
            fetchers.one = Fetcher(settings.fetch)
        sink: list[FeedEntry] = []
        return poll_feed(
            feed,
            fetcher=fetchers.one,
            client=redis_client,
            settings=settings,
            enqueue=sink.extend,
            gate=gate,
        )

    started = time.monotonic()
    results = run_polls(feeds, poll, concurrency=8, per_host=2, keep_going=lambda: True)
    took = time.monotonic() - started
    print(f"\n12 feeds x 0.3 s on 2 hosts: {took:.2f} s, peak per host {dict(flight.peak)}")
    assert [r.status for r in results] == ["ok"] * 12
    assert flight.peak == Counter({"127.0.0.1": 2, "127.0.0.2": 2})
    assert {host_of(r.feed_url) for r in results} == {"127.0.0.1", "127.0.0.2"}


def test_no_new_poll_starts_once_the_lease_is_lost(settings: Settings) -> None:
    answers = iter([True, True, False])
    polled: list[str] = []

    def poll(feed: FeedConfig) -> PollResult:
        polled.append(feed.url)
        return PollResult(feed_url=feed.url, status="ok")

    feeds = [FeedConfig(url=f"http://h{n}.test/feed") for n in range(10)]
    run_polls(feeds, poll, concurrency=1, per_host=1, keep_going=lambda: next(answers, False))
    assert 1 <= len(polled) <= 2


def _items(site: LocalSite, count: int) -> object:
    return rss(site, [f"/story-{n}" for n in range(count)])


def _one_feed(site: LocalSite, config_dir: Path, count: int) -> str:
    """Serve a feed of ``count`` items as the only configured feed; its URL."""
    site.routes["/feed.xml"] = _items(site, count)
    write_feeds(config_dir, [site.url("/feed.xml")])
    return site.url("/feed.xml")


def _start_poller(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(newsflow("poller"), env=env, cwd=ROOT, stderr=log)


def test_three_new_items_are_enqueued_and_a_restart_enqueues_none(
    redis_server: RedisServer,
    redis_client: redis.Redis,
    fixture_site: LocalSite,
    tmp_path: Path,
) -> None:
    feed_url = _one_feed(fixture_site, tmp_path, 5)
    # no worker: tasks stay in the queue
    env = worker_env(redis_server.url, tmp_path, NEWSFLOW_POLLER_ENTRIES_PER_TASK="4")
    logs = tmp_path / "poller.log"
    first = _start_poller(env, logs)
    try:
        wait_for(lambda: len(queued_entries(redis_client)) == 5, 30, "5 entries from a poll")
        assert redis_client.llen(QUEUE) == 2  # tasks of up to entries_per_task (4): 4 + 1
        assert fixture_site.count("/feed.xml") == 1
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=30)
    restarted = _start_poller(env, logs)
    try:
        wait_for(lambda: redis_client.get(keys.POLLER_LEASE) is not None, 30, "the restart")
        _wait_rounds(redis_client, 3)  # the restarted poller's rounds: nothing is due yet
        assert fixture_site.count("/feed.xml") == 1 and len(queued_entries(redis_client)) == 5
        fixture_site.routes["/feed.xml"] = _items(fixture_site, 8)
        redis_client.zadd(keys.FEED_SCHEDULE, {feed_url: 0})  # its next poll time comes
        wait_for(lambda: fixture_site.count("/feed.xml") == 2, 30, "the second poll")
        _wait_rounds(redis_client, 2)  # the round of that poll has sent its tasks
        assert len(set(queued_entries(redis_client))) == 8 and redis_client.llen(QUEUE) == 3
        assert redis_client.zscore(keys.FEED_SCHEDULE, feed_url) > time.time() + 200
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(timeout=30)
    assert int(redis_client.get(keys.ENQUEUED_COUNT)) == 8
    assert "new=3 updated=0 entries=8" in logs.read_text()


def test_polling_pauses_while_the_queue_is_full_and_resumes_once_it_drains(
    redis_server: RedisServer,
    redis_client: redis.Redis,
    fixture_site: LocalSite,
    tmp_path: Path,
) -> None:
    feed_url = _one_feed(fixture_site, tmp_path, 3)
    env = worker_env(
        redis_server.url,
        tmp_path,
        NEWSFLOW_POLLER_ENTRIES_PER_TASK="1",
        NEWSFLOW_POLLER_MAX_QUEUED_TASKS="3",
    )
    logs = tmp_path / "poller.log"
    poller = _start_poller(env, logs)
    try:
        wait_for(lambda: redis_client.llen(QUEUE) == 3, 30, "the first poll's 3 tasks")
        # The next round pauses; by then the first poll has also set the feed's next poll.
        wait_for(lambda: "polling paused" in logs.read_text(), 30, "the pause")
        fixture_site.routes["/feed.xml"] = _items(fixture_site, 5)
        redis_client.zadd(keys.FEED_SCHEDULE, {feed_url: 0})  # due again: the queue is full
        _wait_rounds(redis_client, 3)
        assert fixture_site.count("/feed.xml") == 1 and redis_client.llen(QUEUE) == 3
        redis_client.delete(QUEUE)  # the workers caught up
        wait_for(lambda: redis_client.llen(QUEUE) == 2, 30, "the 2 new entries")
        assert fixture_site.count("/feed.xml") == 2
    finally:
        poller.send_signal(signal.SIGTERM)
        poller.wait(timeout=30)
    text = logs.read_text()
    print("\n" + "\n".join(line for line in text.splitlines() if "polling" in line))
    assert "queue depth 3 reached poller.max_queued_tasks (3): polling paused" in text
    assert "queue depth 0: polling resumed" in text


def _huge_body(request: BaseHTTPRequestHandler) -> None:
    """A 50 MB feed, streamed (the poller must stop at its size cap)."""
    request.send_response(200)
    request.send_header("Content-Type", "application/rss+xml")
    request.send_header("Content-Length", str(50 * 1024 * 1024))
    request.end_headers()
    try:
        request.wfile.write(b'<rss version="2.0"><channel><title>t</title>')
        for _ in range(50 * 1024):
            request.wfile.write(b"<item><title>x</title></item>" * 34)
    except OSError:
        return  # the client hung up: expected


def test_bad_feeds_get_a_status_and_a_log_line_and_good_feeds_keep_going(
    redis_server: RedisServer,
    redis_client: redis.Redis,
    fixture_site: LocalSite,
    second_host: LocalSite,
    tmp_path: Path,
) -> None:
    future = "<pubDate>Tue, 01 Jan 2099 00:00:00 GMT</pubDate>"
    many = "".join(f"<item><link>/p/{n}</link></item>" for n in range(100_000))
    routes: dict[str, object] = {
        "/good.xml": rss(fixture_site, ["/good-1", "/good-2"]),
        "/html.xml": respond(200, b"<html><body><p>Not a feed</p></body></html>", "text/html"),
        "/empty.xml": respond(200, b"", "application/rss+xml"),
        "/many.xml": respond(
            200, f'<rss version="2.0"><channel><title>t</title>{many}</channel></rss>'.encode()
        ),
        "/future.xml": respond(
            200,
            f'<rss version="2.0"><channel><title>t</title><item><link>/f</link>{future}</item>'
            "</channel></rss>".encode(),
        ),
        "/huge.xml": _huge_body,
    }
    fixture_site.routes.update(routes)  # type: ignore[arg-type]
    # A 503 cools its whole host down: it is on a host of its own.
    second_host.routes["/down.xml"] = respond(503, b"busy", headers=(("Retry-After", "120"),))
    files = ["malformed.xml", "bad_links.xml", "relative_links.xml", "billion_laughs.xml"]
    urls = [fixture_site.url(p) for p in routes] + [
        fixture_site.url(f"/feeds/{name}") for name in files
    ]
    urls.append(second_host.url("/down.xml"))
    write_feeds(tmp_path, urls)
    env = worker_env(redis_server.url, tmp_path)
    done = subprocess.run(
        newsflow("poller", "--once"), env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    listed = subprocess.run(
        newsflow("feeds", "list", "--json"), env=env, cwd=ROOT, capture_output=True, text=True
    )
    rows = {
        row["url"].rsplit("/", 1)[-1]: row
        for row in map(json.loads, listed.stdout.split("\n")[:-1])
    }
    statuses = {name: (row["status"], row["error"][:40]) for name, row in rows.items()}
    print(
        "\n"
        + "\n".join(f"{name:22} {status} {error}" for name, (status, error) in statuses.items())
    )
    assert rows["good.xml"]["status"] == "ok" and rows["good.xml"]["items_seen"] == 2
    assert rows["many.xml"]["items_seen"] == 500 and "capped at 500" in rows["many.xml"]["error"]
    assert rows["future.xml"]["items_seen"] == 1
    for name in ("html.xml", "empty.xml", "huge.xml", "down.xml"):
        assert rows[name]["status"] == "error" and rows[name]["error"], name
    assert rows["malformed.xml"]["status"] == "warning"
    now = time.time()
    for url in urls:
        assert f"poll feed={url} status=" in done.stderr
        assert redis_client.zscore(keys.FEED_SCHEDULE, url) > now  # all scheduled again
    assert redis_client.zscore(keys.FEED_SCHEDULE, second_host.url("/down.xml")) >= now + 100


def _wait_rounds(client: redis.Redis, rounds: int) -> None:
    """Wait until the active poller has run ``rounds`` more poll rounds."""
    start = int(client.get(keys.POLLER_ROUNDS) or 0)
    wait_for(
        lambda: int(client.get(keys.POLLER_ROUNDS) or 0) >= start + rounds,
        30,
        f"{rounds} poll rounds",
    )


def test_hostile_feed_documents_fail_alone_in_a_real_poller(
    redis_server: RedisServer,
    redis_client: redis.Redis,
    fixture_site: LocalSite,
    tmp_path: Path,
) -> None:
    """Issue #15: each of these documents used to end the poll round and the poller."""
    base = fixture_site.base_url
    json_feed = (
        '{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": "1", '
        f'"url": "{base}/j", "date_published": "0001-01-01T00:00:00+01:00"}}]}}'
    )
    sitemap = (
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url>'
        f"<loc>{base}/s</loc><lastmod>9999-12-31T23:59:59-01:00</lastmod></url></urlset>"
    )
    routes: dict[str, object] = {
        "/surrogate.xml": respond(
            200,
            '<rss version="2.0"><channel><title>t</title><item><title>&#xD800;</title>'
            f"<link>{base}/r</link></item></channel></rss>".encode(),
            "application/rss+xml",
        ),
        "/dates.json": respond(200, json_feed.encode(), "application/feed+json"),
        "/dates-sitemap.xml": respond(200, sitemap.encode(), "application/xml"),
        "/ipv6-link.xml": respond(
            200,
            '<rss version="2.0"><channel><title>t</title>'
            "<item><link>http://[::1/a</link></item>"
            f"<item><link>{base}/v</link></item></channel></rss>".encode(),
            "application/rss+xml",
        ),
        "/corrupt.xml.gz": respond(
            200, b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\xde\xad" * 50, "text/xml"
        ),
        "/good.xml": rss(fixture_site, ["/good-1", "/good-2"]),
    }
    fixture_site.routes.update(routes)  # type: ignore[arg-type]
    urls = [fixture_site.url(path) for path in routes]
    write_feeds(tmp_path, urls)
    env = worker_env(redis_server.url, tmp_path)
    done = subprocess.run(
        newsflow("poller", "--once"), env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    states = {url.rsplit("/", 1)[-1]: redis_client.hgetall(keys.feed_state(url)) for url in urls}
    print(
        "\n"
        + "\n".join(
            f"{n:18} {s[b'status'].decode()} {s[b'error'].decode()[:60]}" for n, s in states.items()
        )
    )
    for name in ("surrogate.xml", "dates.json", "dates-sitemap.xml", "ipv6-link.xml", "good.xml"):
        assert states[name][b"status"] == b"ok", name
    assert {name: int(s[b"items_seen"]) for name, s in states.items()} == {
        "surrogate.xml": 1,
        "dates.json": 1,
        "dates-sitemap.xml": 1,
        "ipv6-link.xml": 1,
        "corrupt.xml.gz": 0,
        "good.xml": 2,
    }
    corrupt = states["corrupt.xml.gz"]
    assert corrupt[b"status"] == b"error" and b"invalid gzipped" in corrupt[b"error"]
    assert corrupt[b"error_streak"] == b"1"
    now = time.time()
    for url in urls:
        assert f"poll feed={url} status=" in done.stderr
        assert redis_client.zscore(keys.FEED_SCHEDULE, url) > now  # all scheduled again
    assert len(queued_entries(redis_client)) == 6
