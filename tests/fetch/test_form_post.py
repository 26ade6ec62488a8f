"""post_form against real local servers: the fetcher's SSRF rules, redirects, deadline."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import pytest

from pipeline.errors import BlockedDestination, FetchRefused, FetchTimeout, UpstreamUnavailable
from pipeline.fetch.form_post import post_form
from pipeline.settings import FetchSettings

Answer = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class FormServer:
    """Records each POST (path, headers, form) and answers with ``routes[path]``."""

    host: str = "127.0.0.1"
    routes: dict[str, Answer] = field(default_factory=dict)
    posts: list[tuple[str, dict[str, str], dict[str, str]]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    def url(self, path: str) -> str:
        assert self._server is not None
        return f"http://{self.host}:{self._server.server_address[1]}{path}"

    def start(self) -> FormServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                server.posts.append((self.path, headers, dict(parse_qsl(body.decode()))))
                route = server.routes.get(self.path.split("?")[0], answer(202, b"accepted"))
                route(self)

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def answer(status: int, body: bytes = b"", location: str = "") -> Answer:
    def handler(request: BaseHTTPRequestHandler) -> None:
        request.send_response(status)
        if location:
            request.send_header("Location", location)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    return handler


@pytest.fixture
def hub() -> Iterator[FormServer]:
    server = FormServer().start()
    yield server
    server.stop()


@pytest.fixture
def internal() -> Iterator[FormServer]:
    """127.0.0.2 plays an internal service that must never be reached."""
    server = FormServer(host="127.0.0.2").start()
    yield server
    server.stop()


LOOPBACK = FetchSettings(allow=("127.0.0.1/32",), deadline_s=3.0, read_timeout_s=2.0)
FORM = {"hub.mode": "subscribe", "hub.topic": "https://news.example/f?a=1&b=é"}


def test_the_form_is_posted_urlencoded_in_utf8(hub: FormServer) -> None:
    hub.routes["/hub"] = answer(400, b"bad topic " * 1000)
    result = post_form(hub.url("/hub?x=1"), FORM, settings=LOOPBACK)
    assert result.status == 400 and result.text.startswith("bad topic")
    assert len(result.text) == 4096  # only the start of an answer is read
    [(path, headers, form)] = hub.posts
    assert path == "/hub?x=1" and form == FORM
    assert headers["content-type"] == "application/x-www-form-urlencoded; charset=utf-8"
    assert headers["host"] == hub.url("").removeprefix("http://")
    assert headers["user-agent"] == LOOPBACK.user_agent


def test_a_hub_on_a_private_address_is_refused(hub: FormServer, internal: FormServer) -> None:
    with pytest.raises(BlockedDestination, match="non-public"):
        post_form(hub.url("/hub"), FORM, settings=FetchSettings())  # nothing allowed
    with pytest.raises(BlockedDestination, match="non-public 127.0.0.2"):
        post_form(internal.url("/hub"), FORM, settings=LOOPBACK)
    for url in ("ftp://127.0.0.1/hub", "http:///hub", "http://[::1/hub", "http://h:99999/"):
        with pytest.raises(BlockedDestination):
            post_form(url, FORM, settings=LOOPBACK)
    assert hub.posts == [] and internal.posts == []


def test_307_and_308_are_followed_each_hop_checked(hub: FormServer, internal: FormServer) -> None:
    hub.routes["/old"] = answer(307, location="/moved")
    hub.routes["/moved"] = answer(308, location=hub.url("/new"))
    assert post_form(hub.url("/old"), FORM, settings=LOOPBACK).status == 202
    assert [(path, form) for path, _, form in hub.posts] == [
        ("/old", FORM),
        ("/moved", FORM),
        ("/new", FORM),
    ]
    hub.routes["/inside"] = answer(307, location=internal.url("/admin"))
    with pytest.raises(BlockedDestination):
        post_form(hub.url("/inside"), FORM, settings=LOOPBACK)
    assert internal.posts == []
    hub.routes["/found"] = answer(302, location="/elsewhere")  # not how a hub moves
    assert post_form(hub.url("/found"), FORM, settings=LOOPBACK).status == 302
    hub.routes["/loop"] = answer(307, location="/loop")
    with pytest.raises(FetchRefused, match="more than 3 redirects"):
        post_form(hub.url("/loop"), FORM, settings=LOOPBACK)


def test_no_request_goes_around_a_configured_proxy(hub: FormServer) -> None:
    settings = FetchSettings(allow=("127.0.0.1/32",), proxy="http://127.0.0.1:3128")
    with pytest.raises(BlockedDestination, match="fetch.proxy"):
        post_form(hub.url("/hub"), FORM, settings=settings)
    assert hub.posts == []


def test_a_dripping_hub_ends_at_the_deadline(hub: FormServer) -> None:
    stop = threading.Event()

    def drip(request: BaseHTTPRequestHandler) -> None:
        request.wfile.write(b"HTTP/1.1 202 Accepted\r\n")
        while not stop.wait(0.5):
            try:
                request.wfile.write(b"X-Slow: 1\r\n")
                request.wfile.flush()
            except OSError:
                return

    hub.routes["/drip"] = drip
    settings = FetchSettings(allow=("127.0.0.1/32",), deadline_s=1.5, read_timeout_s=1.0)
    started = time.monotonic()
    try:
        with pytest.raises(FetchTimeout):
            post_form(hub.url("/drip"), FORM, settings=settings)
    finally:
        stop.set()
    assert time.monotonic() - started < 3.0


def test_a_hub_that_is_down_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed when the block ends: nothing listens there
    with pytest.raises(UpstreamUnavailable):
        post_form(f"http://127.0.0.1:{port}/hub", FORM, settings=LOOPBACK)
