"""WebSub end to end: a real `newsflow websub` process and a local hub written here.

The hub (127.0.0.1) records every (un)subscription request, answers 202, then verifies the
intent (GET with a challenge) or denies; the test makes it push content signed (or not)
with the secret it was given. No worker runs: pushed entries stay in the Celery queue.
"""

from __future__ import annotations

import hmac
import json
import secrets
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
import redis

from pipeline import keys
from pipeline.local.redis_server import RedisServer
from pipeline.local.site import LocalSite
from pipeline.polling.registry import add_feed, remove_feed
from pipeline.polling.websub import poll_floor_s
from pipeline.settings import FeedConfig, Settings
from tests.commands import ROOT, newsflow, poll_once, queued_entries, wait_for, worker_env
from tests.factories import respond


@dataclass
class Verification:
    """One GET the hub sent to a callback, and how the subscriber answered."""

    mode: str
    callback: str
    status: int
    echoed: bool
    at: float


@dataclass
class LocalHub:
    """A WebSub hub: ``requests`` holds each POSTed form, ``verifications`` each GET sent."""

    lease_s: int = 3600
    deny: bool = False
    requests: list[dict[str, str]] = field(default_factory=list)
    verifications: list[Verification] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/hub"

    def start(self) -> LocalHub:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", "0"))
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                form["content-type"] = self.headers.get("Content-Type", "")
                hub.requests.append(form)
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()
                threading.Thread(target=hub.verify, args=(form,), daemon=True).start()

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def verify(self, form: dict[str, str]) -> None:
        """Verify the intent of a request (or deny it), as a hub does once it answered."""
        time.sleep(0.05)
        if self.deny:
            query = {"hub.mode": "denied", "hub.topic": form["hub.topic"], "hub.reason": "no"}
        else:
            query = {
                "hub.mode": form["hub.mode"],
                "hub.topic": form["hub.topic"],
                "hub.challenge": secrets.token_urlsafe(16),
                "hub.lease_seconds": str(self.lease_s),
            }
        status, body = get(form["hub.callback"], query)
        echoed = body == query.get("hub.challenge", "").encode()
        self.verifications.append(
            Verification(form["hub.mode"], form["hub.callback"], status, echoed, time.time())
        )

    def subscribes(self) -> list[dict[str, str]]:
        return [form for form in self.requests if form["hub.mode"] == "subscribe"]


def get(url: str, query: dict[str, str]) -> tuple[int, bytes]:
    """GET ``url`` with ``query`` appended: (status, body), whatever the status."""
    joiner = "&" if "?" in url else "?"
    try:
        with urllib.request.urlopen(url + joiner + urlencode(query), timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def push(callback: str, body: bytes, *, secret: str = "", algorithm: str = "sha256") -> int:
    """POST content to a callback as a hub does, signed with ``secret`` if given."""
    headers = {"Content-Type": "application/atom+xml"}
    if secret:
        digest = hmac.new(secret.encode(), body, algorithm).hexdigest()
        headers["X-Hub-Signature"] = f"{algorithm}={digest}"
    request = urllib.request.Request(callback, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def atom(site: LocalSite, hub_url: str, paths: list[str]) -> bytes:
    """An Atom feed declaring its hub and self link, with an entry per path."""
    entries = "".join(
        f"<entry><id>{site.url(p)}</id><title>{p}</title><link href='{site.url(p)}'/>"
        "<updated>2026-11-01T12:00:00Z</updated></entry>"
        for p in paths
    )
    return (
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>pushed</title>'
        f'<link rel="hub" href="{hub_url}"/><link rel="self" href="{site.url("/feed.xml")}"/>'
        f"<id>{site.url('/feed.xml')}</id><updated>2026-11-01T12:00:00Z</updated>{entries}</feed>"
    ).encode()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    """A running `newsflow websub` and what the tests need of it."""

    env: dict[str, str]
    base: str
    log: Path


@pytest.fixture
def hubs() -> Iterator[Callable[..., LocalHub]]:
    started: list[LocalHub] = []

    def start(**options: Any) -> LocalHub:
        started.append(LocalHub(**options).start())
        return started[-1]

    yield start
    for hub in started:
        hub.stop()


@pytest.fixture
def websub_service(redis_server: RedisServer, tmp_path: Path) -> Iterator[Callable[..., Service]]:
    """Start `newsflow websub` (stopped, by its pid, at teardown)."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(**extra: str) -> Service:
        port = _free_port()
        base = f"http://127.0.0.1:{port}/websub"
        env = worker_env(
            redis_server.url,
            tmp_path / "config",
            NEWSFLOW_WEBSUB_CALLBACK_URL=base,
            NEWSFLOW_WEBSUB_BIND=f"127.0.0.1:{port}",
            NEWSFLOW_WEBSUB_SCAN_INTERVAL_S="1",  # a changed hub, a removed feed: seen in 1 s
            **extra,
        )
        log = tmp_path / "websub.log"
        with log.open("ab") as out:
            procs.append(subprocess.Popen(newsflow("websub"), env=env, cwd=ROOT, stderr=out))
        wait_for(lambda: _healthy(port, procs[-1]), 30, "newsflow websub to listen")
        return Service(env=env, base=base, log=log)

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=30)


def _healthy(port: int, proc: subprocess.Popen[bytes]) -> bool:
    assert proc.poll() is None, "newsflow websub exited"
    try:
        return get(f"http://127.0.0.1:{port}/healthz", {})[0] == 200
    except OSError:
        return False


def _subscribed_feed(client: redis.Redis, site: LocalSite, hub: LocalHub, paths: list[str]) -> str:
    """Register a feed served on the site whose poll state names the hub; its URL."""
    feed_url = site.url("/feed.xml")
    site.routes["/feed.xml"] = respond(200, atom(site, hub.url, paths), "application/atom+xml")
    add_feed(client, FeedConfig(url=feed_url))
    # As a poll records it (test_the_poller_finds_the_hub_... lets the poller do it).
    client.hset(keys.feed_state(feed_url), mapping={"hub": hub.url, "topic": feed_url})
    return feed_url


def _wait_verified(hub: LocalHub, count: int = 1) -> Verification:
    wait_for(lambda: len(hub.verifications) >= count, 30, f"verification {count}")
    return hub.verifications[count - 1]


def _subscription(client: redis.Redis, feed_url: str) -> dict[str, str]:
    sub_id = client.hget(keys.WEBSUB_FEEDS, feed_url)
    assert sub_id is not None, "the feed has no subscription"
    raw = client.hgetall(keys.websub_subscription(sub_id.decode()))
    return {k.decode(): v.decode() for k, v in raw.items()}


# ------------------------------------------------------------------ tests


def test_subscribe_verify_push_enqueues_each_entry_once(
    redis_server: RedisServer,
    redis_client: redis.Redis,
    fixture_site: LocalSite,
    websub_service: Callable[..., Service],
    hubs: Callable[..., LocalHub],
) -> None:
    hub = hubs(lease_s=3600)
    paths = ["/story-1", "/story-2", "/story-3"]
    feed_url = _subscribed_feed(redis_client, fixture_site, hub, paths)
    service = websub_service()
    verification = _wait_verified(hub)
    form = hub.subscribes()[0]
    assert form["hub.topic"] == feed_url
    assert form["hub.callback"].startswith(service.base + "/")
    assert form["hub.lease_seconds"] == "864000"
    assert 0 < len(form["hub.secret"].encode()) < 200
    assert form["content-type"].startswith("application/x-www-form-urlencoded")
    assert (verification.mode, verification.status, verification.echoed) == ("subscribe", 200, True)
    sub = _subscription(redis_client, feed_url)
    assert sub["state"] == "active" and sub["lease_s"] == "3600"
    live = redis_client.zscore(keys.WEBSUB_LIVE, feed_url)
    assert live is not None and abs(live - (verification.at + 3600)) < 5
    websub = Settings.load(service.env).websub  # the poller slows the feed down to 6 h
    assert poll_floor_s(redis_client, feed_url, websub, now=time.time()) == 21600

    callback, secret = form["hub.callback"], form["hub.secret"]
    first = atom(fixture_site, hub.url, paths[:2])
    assert push(callback, first, secret=secret) == 202
    wait_for(lambda: len(queued_entries(redis_client)) == 2, 30, "2 pushed entries")
    assert push(callback, first, secret=secret, algorithm="sha512") == 202  # same entries again
    assert (
        push(callback, atom(fixture_site, hub.url, paths), secret=secret, algorithm="sha1") == 202
    )
    wait_for(lambda: len(queued_entries(redis_client)) == 3, 30, "the third entry")

    evil = atom(fixture_site, hub.url, ["/evil"])
    assert push(callback, evil) == 202  # unsigned: answered, ignored
    assert push(callback, evil, secret="not-the-secret") == 202  # bad signature: same
    assert push(callback, evil, secret=secret, algorithm="md5") == 202  # not a WebSub method
    assert push(service.base + "/" + "x" * 32, evil, secret=secret) == 404  # no subscription
    poll_once(service.env)  # the poller reads the same three entries
    urls = queued_entries(redis_client)
    assert sorted(urls) == sorted(fixture_site.url(p) for p in paths)  # no /evil, no repeat
    assert redis_client.zcard(keys.SENT_ENTRIES) == 3  # the ledger: each entry once
    text = service.log.read_text()
    assert "outcome=unsigned" in text and "outcome=bad_signature" in text
    assert "outcome=pushed new=2" in text and "outcome=pushed new=0" in text


def test_the_poller_finds_the_hub_and_then_polls_only_as_a_safety_net(
    redis_client: redis.Redis,
    fixture_site: LocalSite,
    websub_service: Callable[..., Service],
    hubs: Callable[..., LocalHub],
) -> None:
    """No state written by the test: `newsflow poller --once` reads the feed's hub (here from
    a ``Link`` header, the document naming another), the service subscribes there, and the
    next poll is put off by ``websub.fallback_interval_s``."""
    header_hub, document_hub = hubs(), hubs()
    feed_url = fixture_site.url("/feed.xml")
    links = (("Link", f'<{header_hub.url}>; rel="hub"'), ("Link", f"<{feed_url}>; rel=self"))
    body = atom(fixture_site, document_hub.url, ["/a"])
    fixture_site.routes["/feed.xml"] = respond(200, body, "application/atom+xml", headers=links)
    add_feed(redis_client, FeedConfig(url=feed_url))
    service = websub_service()
    poll_once(service.env)
    state = redis_client.hgetall(keys.feed_state(feed_url))
    assert (state[b"hub"], state[b"topic"]) == (header_hub.url.encode(), feed_url.encode())
    _wait_verified(header_hub)
    assert header_hub.subscribes()[0]["hub.topic"] == feed_url and not document_hub.requests
    wait_for(lambda: redis_client.zscore(keys.WEBSUB_LIVE, feed_url), 30, "a live lease")
    listed = subprocess.run(
        newsflow("feeds", "list", "--json"), env=service.env, cwd=ROOT, capture_output=True
    )
    row = json.loads(listed.stdout)
    assert row["hub"] == header_hub.url and row["push_until"] > time.time() + 3000
    redis_client.zadd(keys.FEED_SCHEDULE, {feed_url: 0})  # due again now
    fixture_site.routes["/feed.xml"] = respond(
        200, atom(fixture_site, document_hub.url, ["/a", "/b"]), "application/atom+xml"
    )
    poll_once(service.env)
    next_poll = float(redis_client.hget(keys.feed_state(feed_url), "next_poll") or 0)
    assert next_poll - time.time() > 21600 * 0.85  # jitter is 10 %


def test_verifications_nobody_asked_for_are_refused(
    redis_client: redis.Redis,
    fixture_site: LocalSite,
    websub_service: Callable[..., Service],
    hubs: Callable[..., LocalHub],
) -> None:
    hub = hubs()
    feed_url = _subscribed_feed(redis_client, fixture_site, hub, ["/a"])
    service = websub_service()
    _wait_verified(hub)
    callback = hub.subscribes()[0]["hub.callback"]
    challenge = {"hub.challenge": "c-1", "hub.lease_seconds": "60"}
    assert get(callback, {"hub.mode": "subscribe", "hub.topic": feed_url, **challenge}) == (
        200,
        b"c-1",
    )
    wrong_topic = {"hub.mode": "subscribe", "hub.topic": feed_url + "?x", **challenge}
    assert get(callback, wrong_topic)[0] == 404
    not_pending = {"hub.mode": "unsubscribe", "hub.topic": feed_url, **challenge}
    assert get(callback, not_pending)[0] == 404
    unknown = service.base + "/" + secrets.token_urlsafe(24)
    assert get(unknown, {"hub.mode": "subscribe", "hub.topic": feed_url, **challenge})[0] == 404
    assert get(service.base, {"hub.mode": "subscribe", "hub.topic": feed_url})[0] == 404
    assert get(callback, {"hub.mode": "nonsense"})[0] == 400
    assert _subscription(redis_client, feed_url)["state"] == "active"


def test_a_lease_is_renewed_before_it_expires(
    redis_client: redis.Redis,
    fixture_site: LocalSite,
    websub_service: Callable[..., Service],
    hubs: Callable[..., LocalHub],
) -> None:
    hub = hubs(lease_s=4)
    feed_url = _subscribed_feed(redis_client, fixture_site, hub, ["/a"])
    websub_service(NEWSFLOW_WEBSUB_RENEW_BEFORE_S="2")
    first = _wait_verified(hub)
    first_expiry = redis_client.zscore(keys.WEBSUB_LIVE, feed_url)
    second = _wait_verified(hub, 2)
    renewal = hub.subscribes()[1]
    print(f"\nlease 4 s: renewed {second.at - first.at:.2f} s after the first verification")
    assert second.at < first.at + 4, "renewed only after the lease ended"
    assert renewal["hub.callback"] == hub.subscribes()[0]["hub.callback"]
    assert renewal["hub.secret"] == hub.subscribes()[0]["hub.secret"]
    assert (second.status, second.echoed) == (200, True)
    second_expiry = redis_client.zscore(keys.WEBSUB_LIVE, feed_url)
    assert first_expiry is not None and second_expiry is not None
    assert second_expiry > first_expiry


def test_a_denied_subscription_is_not_asked_again(
    redis_client: redis.Redis,
    fixture_site: LocalSite,
    websub_service: Callable[..., Service],
    hubs: Callable[..., LocalHub],
) -> None:
    hub = hubs(deny=True)
    feed_url = _subscribed_feed(redis_client, fixture_site, hub, ["/a"])
    service = websub_service()
    denial = _wait_verified(hub)
    assert denial.status == 200
    sub = _subscription(redis_client, feed_url)
    assert sub["state"] == "denied" and sub["error"] == "denied by the hub: no"
    assert redis_client.zscore(keys.WEBSUB_LIVE, feed_url) is None
    callback = hub.subscribes()[0]["hub.callback"]
    assert push(callback, atom(fixture_site, hub.url, ["/a"]), secret=sub["secret"]) == 404
    time.sleep(2.5)  # two scans at least (websub.scan_interval_s is 1 s here)
    assert len(hub.requests) == 1
    assert "denied: no" in service.log.read_text()


def test_a_changed_hub_and_a_removed_feed_are_unsubscribed(
    redis_client: redis.Redis,
    fixture_site: LocalSite,
    websub_service: Callable[..., Service],
    hubs: Callable[..., LocalHub],
) -> None:
    old_hub, new_hub = hubs(), hubs()
    feed_url = _subscribed_feed(redis_client, fixture_site, old_hub, ["/a"])
    websub_service()
    _wait_verified(old_hub)
    old_id = redis_client.hget(keys.WEBSUB_FEEDS, feed_url)
    redis_client.hset(keys.feed_state(feed_url), "hub", new_hub.url)  # the feed moved hubs
    left = _wait_verified(old_hub, 2)
    assert (left.mode, left.status, left.echoed) == ("unsubscribe", 200, True)
    assert left.callback == old_hub.subscribes()[0]["hub.callback"]
    _wait_verified(new_hub)
    assert old_id is not None and not redis_client.exists(keys.websub_subscription(old_id.decode()))
    assert _subscription(redis_client, feed_url)["hub"] == new_hub.url
    remove_feed(redis_client, feed_url)  # `newsflow feeds remove`
    gone = _wait_verified(new_hub, 2)
    assert (gone.mode, gone.status, gone.echoed) == ("unsubscribe", 200, True)
    wait_for(lambda: not redis_client.exists(keys.WEBSUB_FEEDS), 30, "no subscription left")
    assert redis_client.zcard(keys.WEBSUB_LIVE) == 0
    assert not redis_client.keys("newsflow:websub:sub:*")


def test_websub_is_off_without_a_callback_url(redis_server: RedisServer, tmp_path: Path) -> None:
    env = worker_env(redis_server.url, tmp_path)
    done = subprocess.run(
        newsflow("websub"), env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "websub.callback_url is not set (NEWSFLOW_WEBSUB_CALLBACK_URL)" in done.stderr
