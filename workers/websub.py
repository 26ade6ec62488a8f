"""``newsflow websub``: the WebSub callback service and the subscriber loop, in one process.

The HTTP service (stdlib ``ThreadingHTTPServer`` on ``websub.bind``) answers the hubs: GET
is an intent verification or a denial, POST is pushed content. Bodies are capped at
``fetch.max_feed_bytes`` and must arrive within ``fetch.deadline_s`` (each read within
``fetch.read_timeout_s``); at most ``MAX_CONCURRENT`` requests are served at once, the
next ones get a 503. A request that fails is logged and answered 500 (503 while Redis is
down, so the hub retries), never the end of the service. ``GET /healthz`` answers ``ok``.

While it runs it renews ``keys.WEBSUB_ALIVE`` every 10 s (TTL 30 s): the poller slows a
feed down to ``websub.fallback_interval_s`` only while its lease runs and someone listens.

The subscriber loop, on the main thread, sends the subscription requests that are due
(pipeline.polling.subscriber.run_round) at most 5 s late, and compares every feed with its
subscription every ``websub.scan_interval_s``.
Several replicas may run: the state is in Redis, each request is sent under a lock.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import redis

from pipeline.errors import RedisUnavailable
from pipeline.fetch.form_post import PostAnswer, post_form
from pipeline.polling.subscriber import answer_hub, load_subscription, run_round, take_push
from pipeline.polling.subscription import subscription_id
from pipeline.polling.websub import mark_listening
from pipeline.settings import Settings, bind_address
from workers.poller import enqueue_entries

log = logging.getLogger(__name__)
MAX_CONCURRENT = 32
_ROUND_MIN_S, _ROUND_MAX_S = 0.2, 5.0
_ALIVE_EVERY_S, _ALIVE_TTL_S = 10.0, 30.0
_BUSY = b"HTTP/1.0 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Length: 0\r\n\r\n"
Reply = tuple[int, bytes]


def run_websub(settings: Settings, client: redis.Redis, stop: threading.Event) -> None:
    """Serve the hubs' callbacks and keep the subscriptions until ``stop`` is set."""
    wake = threading.Event()
    server = serve_callbacks(settings, client, wake=wake)
    owner = f"{socket.gethostname()}-{os.getpid()}"
    threading.Thread(
        target=keep_listening, args=(client, owner, stop), name="websub-alive", daemon=True
    ).start()
    log.info(
        "websub listening on %s, callbacks under %s",
        settings.websub.bind,
        settings.websub.callback_url,
    )
    try:
        run_subscriber(settings, client, stop, wake=wake)
    finally:
        server.shutdown()
        server.server_close()


def serve_callbacks(
    settings: Settings, client: redis.Redis, *, wake: threading.Event
) -> CallbackServer:
    """Start the callback service on ``websub.bind`` in a daemon thread; it sets ``wake``
    when a hub's call changed a subscription (its next request may be due sooner)."""
    address = bind_address(settings.websub.bind)
    assert address is not None  # validated by the settings
    server = CallbackServer(address, settings=settings, client=client, wake=wake)
    threading.Thread(target=server.serve_forever, name="websub-http", daemon=True).start()
    return server


def keep_listening(client: redis.Redis, owner: str, stop: threading.Event) -> None:
    """Renew ``keys.WEBSUB_ALIVE`` until ``stop``: while it lives, feeds with a live
    subscription are polled at ``websub.fallback_interval_s`` only."""
    while True:
        try:
            mark_listening(client, owner, _ALIVE_TTL_S)
        except RedisUnavailable as exc:
            log.warning("websub heartbeat not written: %s", exc)
        if stop.wait(_ALIVE_EVERY_S):
            return


def run_subscriber(
    settings: Settings, client: redis.Redis, stop: threading.Event, *, wake: threading.Event
) -> None:
    """Send the due subscription requests until ``stop`` is set; a failing round is logged.

    Rounds run when the next request is due, when ``wake`` is set, and at least every 5 s
    (a call answered by another replica); every ``websub.scan_interval_s`` one compares
    every feed with its subscription (a hub a poll found, a feed removed)."""

    def post(url: str, fields: Mapping[str, str]) -> PostAnswer:
        return post_form(url, fields, settings=settings.fetch)

    next_scan = 0.0
    while not stop.is_set():
        wait = _ROUND_MAX_S
        scan = time.monotonic() >= next_scan
        try:
            wait = run_round(client, settings, post=post, now=time.time(), scan=scan)
            if scan:
                next_scan = time.monotonic() + settings.websub.scan_interval_s
        except RedisUnavailable as exc:
            log.warning("websub round skipped: %s", exc)
        except Exception:  # one bad round, not the service
            log.exception("websub round failed")
        wait = min(wait, _ROUND_MAX_S, next_scan - time.monotonic())
        _sleep(max(wait, _ROUND_MIN_S), stop, wake)


def _sleep(seconds: float, stop: threading.Event, wake: threading.Event) -> None:
    """Sleep until ``seconds`` passed, ``wake`` was set (cleared again) or ``stop`` was."""
    end = time.monotonic() + seconds
    while not stop.is_set() and (left := end - time.monotonic()) > 0:
        if wake.wait(min(left, 0.25)):
            wake.clear()
            return


class CallbackServer(ThreadingHTTPServer):
    """The callback service: a thread per request, at most ``MAX_CONCURRENT`` at once."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        *,
        settings: Settings,
        client: redis.Redis,
        wake: threading.Event,
    ) -> None:
        self.wake = wake
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.settings = settings
        self.client = client
        self.enqueue = functools.partial(
            enqueue_entries, per_task=settings.poller.entries_per_task, ledger=client
        )
        self._slots = threading.BoundedSemaphore(MAX_CONCURRENT)
        handler = type("Handler", (CallbackHandler,), {"timeout": settings.fetch.read_timeout_s})
        super().__init__(address, handler)

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse DNS lookup of the address (socket.getfqdn)."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            with contextlib.suppress(OSError):
                request.sendall(_BUSY)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("websub connection from %s failed", client_address, exc_info=True)


class CallbackHandler(BaseHTTPRequestHandler):
    """One hub request: GET (verification, denial) or POST (content)."""

    server: CallbackServer
    protocol_version = "HTTP/1.0"  # one request per connection
    server_version = "newsflow-websub"
    sys_version = ""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._answer(self._verify)

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self._answer(self._push)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("websub %s " + format, self.client_address[0], *args)

    def _answer(self, handle: Callable[[], Reply]) -> None:
        try:
            status, body = handle()
        except RedisUnavailable as exc:
            log.warning("websub %s: %s", self.command, exc)
            status, body = 503, b"unavailable, try again later"
        except TimeoutError:
            status, body = 408, b"request body too slow"
        except ConnectionError:
            return
        except Exception:  # a bug, or input nobody foresaw: this request, not the service
            log.exception("websub %s %s failed", self.command, self.path[:200])
            status, body = 500, b"internal error"
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _verify(self) -> Reply:
        parts = urlsplit(self.path)
        if parts.path == "/healthz":
            return 200, b"ok"
        try:
            query = dict(parse_qsl(parts.query, errors="surrogateescape", max_num_fields=50))
        except ValueError:
            return 400, b"too many parameters"
        sub_id = subscription_id(parts.path)
        if sub_id is None:
            return 404, b""
        settings = self.server.settings
        verdict = answer_hub(self.server.client, sub_id, query, settings=settings, now=time.time())
        if verdict.record is not None or verdict.forget:
            self.server.wake.set()
        log.info(
            "websub %s sub=%s topic=%s: %d %s",
            query.get("hub.mode", "-")[:20],
            sub_id[:8],
            query.get("hub.topic", "-")[:300],
            verdict.status,
            verdict.note,
        )
        return verdict.status, verdict.body

    def _push(self) -> Reply:
        length = self.headers.get("Content-Length", "")
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower() or not length.isdigit():
            return 411, b"Content-Length required"
        settings = self.server.settings
        if int(length) > settings.fetch.max_feed_bytes:
            return 413, b"content too large"
        sub_id = subscription_id(urlsplit(self.path).path)
        sub = load_subscription(self.server.client, sub_id) if sub_id else None
        if sub is None or sub.state != "active":
            return 404, b""
        body = self._read_body(int(length))
        headers = {name.lower(): value for name, value in self.headers.items()}
        result = take_push(
            self.server.client,
            sub,
            body,
            headers,
            settings=settings,
            enqueue=self.server.enqueue,
        )
        level = logging.INFO if result.outcome == "pushed" else logging.WARNING
        log.log(
            level,
            "websub push sub=%s feed=%s outcome=%s new=%d %s",
            sub.id[:8],
            result.feed_url,
            result.outcome,
            result.new,
            result.detail,
        )
        return 202, b""  # ignored content too (WebSub 7.4): no oracle for signatures

    def _read_body(self, length: int) -> bytes:
        """The body, whole by ``fetch.deadline_s`` (a drip cannot hold a slot for longer).

        Raises:
            TimeoutError: the deadline passed. ConnectionError: the body was cut short.
        """
        deadline = time.monotonic() + self.server.settings.fetch.deadline_s
        chunks: list[bytes] = []
        remaining = length
        while remaining:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("body not complete by the deadline")
            self.connection.settimeout(min(self.timeout or left, left))
            chunk = self.rfile.read1(min(remaining, 65536))
            if not chunk:
                raise ConnectionError("body cut short")
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)
