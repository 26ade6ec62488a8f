"""Fetching through a proxy keeps the SSRF guard (issue #15, point 12).

The fetcher validates a host name's addresses and connects to the one it validated. A proxy
given the name would resolve it again, and a rebinding name (public for us, internal for the
proxy) would lead it anywhere: so every proxied hop is a CONNECT tunnel to the validated
address, with TLS (SNI, certificate for the host name) end to end inside. Everything runs on
loopback: the proxy maps names with its own table and refuses anything else.
"""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pipeline.errors import BlockedDestination, TooSlow, UpstreamUnavailable
from pipeline.fetch.client import Fetcher, fetch_page
from pipeline.local.site import LocalSite
from pipeline.settings import FetchSettings
from tests.fetch.local_proxy import LocalProxy, ThrowawayCA, TLSSite, make_ca

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PAGE = b"<!DOCTYPE html><html><body><article><p>Through the tunnel.</p></article></body></html>"
ORIGIN = "127.0.0.2"  # the public site, as far as the fetcher is concerned
INTERNAL = "127.0.0.3"  # what the name rebinds to when the proxy resolves it


class Resolver:
    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers

    def __call__(self, host: str, port: int) -> list[str]:
        if host in self.answers:
            return [self.answers[host]]
        if host.replace(".", "").isdigit():
            return [host]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


RESOLVER = Resolver({"news.test": ORIGIN, "other.test": ORIGIN, "evil.test": "10.0.0.1"})


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> ThrowawayCA:
    made = make_ca(tmp_path_factory.mktemp("ca"))
    if made is None:
        pytest.skip("the TLS proxy tests need the openssl command")
    return made


@pytest.fixture
def trusted(ca: ThrowawayCA, monkeypatch: pytest.MonkeyPatch) -> ThrowawayCA:
    """The throwaway CA is the only one trusted (OpenSSL reads SSL_CERT_FILE)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.ca))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    return ca


@pytest.fixture
def origin() -> Iterator[LocalSite]:
    site = LocalSite(FIXTURES, host=ORIGIN).start()
    yield site
    site.stop()


class Internal:
    """The internal service news.test rebinds to, on the origin's port (what the proxy
    reaches if it resolves the name itself)."""

    def __init__(self, port: int) -> None:
        self.requests: list[str] = []
        service = self

        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                service.requests.append(self.path)
                serve(b"<html><body><p>internal secrets</p></body></html>")(self)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer((INTERNAL, port), _Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://{INTERNAL}:{self.server.server_address[1]}"


@pytest.fixture
def internal(origin: LocalSite) -> Iterator[Internal]:
    service = Internal(int(origin.base_url.rsplit(":", 1)[1]))
    yield service
    service.server.shutdown()
    service.server.server_close()


@pytest.fixture(params=["http-proxy", "https-proxy"])
def proxy(request: pytest.FixtureRequest, ca: ThrowawayCA) -> Iterator[LocalProxy]:
    """The proxy, plain or TLS (its certificate for IP:127.0.0.1, from the throwaway CA)."""
    tls = None
    if request.param == "https-proxy":
        tls = ca.server_context("proxy", san="IP:127.0.0.1")
    running = LocalProxy(names={"news.test": INTERNAL, "other.test": INTERNAL}, tls=tls).start()
    yield running
    running.stop()


@pytest.fixture
def make_fetcher(trusted: ThrowawayCA) -> Iterator[Callable[..., Fetcher]]:
    made: list[Fetcher] = []

    def make(**overrides: Any) -> Fetcher:
        options: dict[str, Any] = {
            "allow": (f"{ORIGIN}/32",),  # the origin only: not the proxy's idea of the name
            "connect_timeout_s": 2.0,
            "read_timeout_s": 2.0,
            "deadline_s": 5.0,
            **overrides,
        }
        fetcher = Fetcher(FetchSettings(**options), resolver=RESOLVER)
        made.append(fetcher)
        return fetcher

    yield make
    for fetcher in made:
        fetcher.close()


def serve(body: bytes, seen: list[tuple[str, str]] | None = None) -> Any:
    def handle(request: BaseHTTPRequestHandler) -> None:
        if seen is not None:
            seen.append((request.path, request.headers.get("Host", "")))
        request.send_response(200)
        request.send_header("Content-Type", "text/html; charset=utf-8")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    return handle


def connects(proxy: LocalProxy) -> list[str]:
    return [line.split(" ")[1] for line in proxy.seen if line.startswith("CONNECT ")]


@pytest.mark.parametrize("configured", ["per-feed", "fetch.proxy"])
def test_http_goes_through_a_tunnel_to_the_validated_address(
    configured: str,
    proxy: LocalProxy,
    origin: LocalSite,
    internal: Internal,
    make_fetcher: Callable[..., Fetcher],
) -> None:
    """The proxy is asked for ``CONNECT 127.0.0.2:port``, never for news.test (which it
    would resolve to the internal service): the page comes from the validated origin."""
    seen: list[tuple[str, str]] = []
    origin.routes["/page"] = serve(PAGE, seen)
    port = origin.base_url.rsplit(":", 1)[1]
    url = f"http://news.test:{port}/page?x=1"
    if configured == "per-feed":
        page = fetch_page(make_fetcher(), url, proxy=proxy.url)
    else:
        page = fetch_page(make_fetcher(proxy=proxy.url), url)

    assert "Through the tunnel." in page.html
    assert len(proxy.seen) == 1 and connects(proxy) == [f"{ORIGIN}:{port}"]
    assert seen == [("/page?x=1", f"news.test:{port}")]
    assert internal.requests == []


def test_https_tunnel_keeps_sni_and_the_certificate_check(
    proxy: LocalProxy, trusted: ThrowawayCA, make_fetcher: Callable[..., Fetcher]
) -> None:
    site = TLSSite(ORIGIN, trusted.server_context("news", san="DNS:news.test"), PAGE).start()
    try:
        fetcher = make_fetcher()
        page = fetch_page(fetcher, f"https://news.test:{site.port}/a", proxy=proxy.url)

        assert "Through the tunnel." in page.html
        assert connects(proxy) == [f"{ORIGIN}:{site.port}"]
        assert site.server_names == ["news.test"]
        assert site.requests == [("/a", f"news.test:{site.port}")]

        # Same address, another name: its certificate does not cover other.test.
        with pytest.raises(UpstreamUnavailable, match="certificate|hostname|match"):
            fetch_page(fetcher, f"https://other.test:{site.port}/b", proxy=proxy.url)
        assert site.requests == [("/a", f"news.test:{site.port}")]
    finally:
        site.stop()


def test_redirects_through_the_proxy_are_checked_hop_by_hop(
    proxy: LocalProxy, origin: LocalSite, internal: Internal, make_fetcher: Callable[..., Fetcher]
) -> None:
    port = origin.base_url.rsplit(":", 1)[1]
    origin.routes["/to-evil"] = redirect(f"http://evil.test:{port}/admin")
    origin.routes["/to-internal"] = redirect(f"{internal.base_url}/page")
    origin.routes["/to-next"] = redirect(f"http://news.test:{port}/next")
    origin.routes["/next"] = serve(PAGE)
    fetcher = make_fetcher()

    for path in ("/to-evil", "/to-internal"):
        with pytest.raises(BlockedDestination):
            fetch_page(fetcher, f"http://news.test:{port}{path}", proxy=proxy.url)
    page = fetch_page(fetcher, f"http://news.test:{port}/to-next", proxy=proxy.url)

    assert page.final_url == f"http://news.test:{port}/next"
    assert set(connects(proxy)) == {f"{ORIGIN}:{port}"}
    assert [path for _, path in origin.requests] == [
        "/to-evil",
        "/to-internal",
        "/to-next",
        "/next",
    ]
    assert internal.requests == []


def test_proxy_credentials_go_to_the_proxy_only(
    origin: LocalSite, make_fetcher: Callable[..., Fetcher]
) -> None:
    seen: list[tuple[str, str]] = []
    origin.routes["/page"] = serve(PAGE, seen)
    proxy = LocalProxy().start()
    try:
        url = proxy.url.replace("http://", "http://reader:p%40ss@")
        fetch_page(make_fetcher(), f"{origin.base_url}/page", proxy=url)
    finally:
        proxy.stop()
    assert proxy.auth == ["Basic " + base64.b64encode(b"reader:p@ss").decode()]
    assert len(seen) == 1


def test_a_refused_tunnel_is_upstream_unavailable(
    origin: LocalSite, make_fetcher: Callable[..., Fetcher]
) -> None:
    proxy = LocalProxy().start()
    port = socket.socket()
    port.bind((ORIGIN, 0))  # bound, not listening: the proxy's connection is refused
    try:
        with pytest.raises(UpstreamUnavailable, match="Tunnel connection failed: 502"):
            fetch_page(make_fetcher(), f"http://{ORIGIN}:{port.getsockname()[1]}/", proxy=proxy.url)
    finally:
        port.close()
        proxy.stop()


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_the_deadline_holds_inside_the_tunnel(
    scheme: str,
    proxy: LocalProxy,
    origin: LocalSite,
    trusted: ThrowawayCA,
    make_fetcher: Callable[..., Fetcher],
) -> None:
    """The watchdog reaches the socket under the tunnel (TLS in TLS for https via an
    https:// proxy): a drip through the proxy ends at the deadline as too_slow."""
    stop = threading.Event()

    def drip(request: BaseHTTPRequestHandler) -> None:
        request.send_response(200)
        request.send_header("Content-Type", "text/html")
        request.end_headers()
        try:
            for _ in range(60):
                request.wfile.write(b"x")
                request.wfile.flush()
                if stop.wait(0.2):
                    break
        except OSError:
            pass

    origin.routes["/drip"] = drip
    context = trusted.server_context("news", san="DNS:news.test")
    site = TLSSite(ORIGIN, context, PAGE, handler=drip).start()
    url = f"https://news.test:{site.port}/drip" if scheme == "https" else f"{origin.base_url}/drip"
    try:
        started = time.monotonic()
        with pytest.raises(TooSlow):
            fetch_page(make_fetcher(deadline_s=1.5, read_timeout_s=10.0), url, proxy=proxy.url)
        assert time.monotonic() - started < 1.5 + 1.0
    finally:
        stop.set()
        site.stop()


def redirect(location: str) -> Any:
    def handle(request: BaseHTTPRequestHandler) -> None:
        request.send_response(302)
        request.send_header("Location", location)
        request.send_header("Content-Length", "0")
        request.end_headers()

    return handle
