"""pipeline.fetch.client against a real local HTTP server (reliability S-1..S-9, scripted routes).

Every destination the process connects to is recorded by an audit-hook tripwire
(``socket.connect``), so SSRF tests can assert that nothing was even attempted.
"""

from __future__ import annotations

import contextlib
import email.utils
import ipaddress
import socket
import sys
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from pipeline.errors import (
    BlockedDestination,
    DropArticle,
    FetchRefused,
    FetchTimeout,
    PipelineError,
    RetryableError,
    TooSlow,
    UndecodableBody,
    UpstreamUnavailable,
)
from pipeline.fetch.addresses import is_public_address
from pipeline.fetch.charset import decode_html
from pipeline.fetch.client import Fetcher, fetch_feed, fetch_page
from pipeline.local.site import LocalSite
from pipeline.retries import Attempt, GiveUp, RetryLater, next_step
from pipeline.settings import FetchSettings, WorkerSettings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CAP = 200_000
Handler = Callable[[BaseHTTPRequestHandler], None]
Resolver = Callable[[str, int], list[str]]
HTML = "text/html; charset=utf-8"
PAGE = b"<!DOCTYPE html><html><body><article><p>Hello, caf\xc3\xa9.</p></article></body></html>"


# --- tripwire: every socket.connect of this process -----------------------------------------

_RECORDERS: list[list[Any]] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "socket.connect" and _RECORDERS:
        _RECORDERS[-1].append(args[1])


sys.addaudithook(_audit)


@pytest.fixture
def tripwire() -> Iterator[list[Any]]:
    """The addresses this process connects to during the test."""
    connects: list[Any] = []
    _RECORDERS.append(connects)
    yield connects
    _RECORDERS.remove(connects)


def hosts(connects: Sequence[Any]) -> set[str]:
    return {str(address[0]) for address in connects}


# --- the local site and fetchers ---------------------------------------------------------


@pytest.fixture(scope="module")
def _site() -> Iterator[LocalSite]:
    site = LocalSite(FIXTURES).start()
    yield site
    site.stop()


@pytest.fixture
def site(_site: LocalSite) -> Iterator[LocalSite]:
    """tests/fixtures on 127.0.0.1 with fresh routes and request log (one server per module:
    stopping a LocalSite costs half a second)."""
    _site.routes.clear()
    _site.requests.clear()
    yield _site
    _site.routes.clear()


@pytest.fixture
def internal() -> Iterator[LocalSite]:
    """A site on 127.0.0.2 playing an internal service that must never be reached."""
    site = LocalSite(FIXTURES, host="127.0.0.2").start()
    yield site
    site.stop()


@pytest.fixture
def stop() -> Iterator[threading.Event]:
    """Set at teardown: endless handlers (drips, floods) stop writing."""
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
def make_fetcher() -> Iterator[Callable[..., Fetcher]]:
    made: list[Fetcher] = []

    def make(*, resolver: Resolver | None = None, **overrides: Any) -> Fetcher:
        options: dict[str, Any] = {
            "allow": ("127.0.0.0/8",),
            "connect_timeout_s": 2.0,
            "read_timeout_s": 2.0,
            "deadline_s": 5.0,
            "max_page_bytes": CAP,
            "max_feed_bytes": CAP,
            **overrides,
        }
        settings = FetchSettings(**options)
        fetcher = Fetcher(settings) if resolver is None else Fetcher(settings, resolver=resolver)
        made.append(fetcher)
        return fetcher

    yield make
    for fetcher in made:
        fetcher.close()


@pytest.fixture
def fetcher(make_fetcher: Callable[..., Fetcher]) -> Fetcher:
    return make_fetcher()


class StubResolver:
    """A resolver seam: fixed answers per host, every call recorded."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(self.answers[host])


# --- scripted responses ------------------------------------------------------------------


def keep_alive(request: BaseHTTPRequestHandler) -> None:
    """Answer in HTTP/1.1 and keep the connection open (LocalSite speaks HTTP/1.0)."""
    request.protocol_version = "HTTP/1.1"
    request.close_connection = False


def reply(
    status: int = 200,
    body: bytes = PAGE,
    *,
    content_type: str = HTML,
    headers: Sequence[tuple[str, str]] = (),
    alive: bool = False,
    record: list[BaseHTTPRequestHandler] | None = None,
) -> Handler:
    def handle(request: BaseHTTPRequestHandler) -> None:
        if record is not None:
            record.append(request)
        if alive:
            keep_alive(request)
        request.send_response(status)
        if content_type:
            request.send_header("Content-Type", content_type)
        for name, value in headers:
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    return handle


def redirect(
    location: str, status: int = 302, *, body: bytes = b"", alive: bool = False
) -> Handler:
    return reply(
        status, body, content_type="text/plain", headers=[("Location", location)], alive=alive
    )


def stalled(
    stop: threading.Event, *, content_type: str = HTML, length: int = 10_000_000, status: int = 200
) -> Handler:
    """Headers only, then silence: a client that tries to read the body hangs."""

    def handle(request: BaseHTTPRequestHandler) -> None:
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(length))
        request.end_headers()
        stop.wait(10)

    return handle


def start_body(request: BaseHTTPRequestHandler, *, chunked: bool) -> None:
    """Send a 200 HTML status and headers, announcing a chunked body (HTTP/1.1) or none."""
    if chunked:
        request.protocol_version = "HTTP/1.1"
    request.send_response(200)
    request.send_header("Content-Type", HTML)
    if chunked:
        request.send_header("Transfer-Encoding", "chunked")
    request.end_headers()


def flood(
    stop: threading.Event, *, chunked: bool = False, sent: list[int] | None = None
) -> Handler:
    """An endless body, without Content-Length (read to close) or chunked."""
    block = b"<p>" + b"x" * 16_000 + b"</p>\n"

    def handle(request: BaseHTTPRequestHandler) -> None:
        start_body(request, chunked=chunked)
        frame = b"%x\r\n%s\r\n" % (len(block), block) if chunked else block
        total = 0
        try:
            while not stop.is_set() and total < 500_000_000:
                request.wfile.write(frame)
                total += len(frame)
        except OSError:
            pass
        finally:
            if sent is not None:
                sent.append(total)
            request.close_connection = True

    return handle


def drip(stop: threading.Event, *, chunked: bool = False, every_s: float = 0.3) -> Handler:
    """A body of one byte every ``every_s`` seconds, for as long as the client listens."""

    def handle(request: BaseHTTPRequestHandler) -> None:
        start_body(request, chunked=chunked)
        try:
            for _ in range(60):
                request.wfile.write(b"1\r\nx\r\n" if chunked else b"x")
                if stop.wait(every_s):
                    break
        except OSError:
            pass
        request.close_connection = True

    return handle


def drip_headers(stop: threading.Event, every_s: float = 0.3) -> Handler:
    """A status line, then one byte of an endless header every ``every_s`` seconds."""

    def handle(request: BaseHTTPRequestHandler) -> None:
        try:
            request.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Slow: ")
            for _ in range(60):
                request.wfile.write(b"a")
                if stop.wait(every_s):
                    break
        except OSError:
            pass
        request.close_connection = True

    return handle


def compressed(size: int, *, wbits: int, layers: int = 1) -> bytes:
    """``size`` zero bytes compressed in memory (gzip: wbits=31, zlib deflate: wbits=15)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    block = bytes(1 << 20)
    parts = [compressor.compress(block) for _ in range(size // len(block))]
    data = b"".join([*parts, compressor.flush()])
    for _ in range(layers - 1):
        outer = zlib.compressobj(9, zlib.DEFLATED, wbits)
        data = outer.compress(data) + outer.flush()
    return data


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """200 MB of zeros, gzip-compressed (about 200 KB on the wire)."""
    return compressed(200 * 1024 * 1024, wbits=31)


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def timed_raise(expected: type[Exception], call: Callable[..., object], *args: object) -> float:
    """Seconds until ``call(*args)`` raised ``expected``."""
    started = time.monotonic()
    with pytest.raises(expected):
        call(*args)
    return time.monotonic() - started


# --- success -------------------------------------------------------------------------------


def test_sample_page_is_fetched_and_decoded(sample_site: LocalSite, fetcher: Fetcher) -> None:
    url = sample_site.url("/articles/tram-line.html")

    page = fetch_page(fetcher, url)

    assert (page.url, page.final_url, page.status) == (url, url, 200)
    assert page.content_type == "text/html"
    assert "Riverside tram line opens to passengers" in page.html
    assert sample_site.base_url in page.html and "{{BASE}}" not in page.html
    assert "\ufffd" not in page.html
    assert page.fetched_at.tzinfo is not None


def test_request_identifies_itself(site: LocalSite, make_fetcher: Callable[..., Fetcher]) -> None:
    seen: list[BaseHTTPRequestHandler] = []
    site.routes["/who"] = reply(record=seen)
    fetcher = make_fetcher(user_agent="newsflow-test/1.0")

    fetch_page(fetcher, site.url("/who?x=1"))

    (request,) = seen
    assert request.path == "/who?x=1"
    assert request.headers["User-Agent"] == "newsflow-test/1.0"
    assert request.headers["Host"] == site.base_url.removeprefix("http://")
    assert "gzip" in request.headers["Accept-Encoding"]


def test_connection_is_reused_across_fetches(site: LocalSite, fetcher: Fetcher) -> None:
    seen: list[BaseHTTPRequestHandler] = []
    site.routes["/a"] = reply(alive=True, record=seen)
    site.routes["/b"] = reply(alive=True, record=seen)

    fetch_page(fetcher, site.url("/a"))
    fetch_page(fetcher, site.url("/b"))

    assert len(seen) == 2
    assert seen[0].client_address == seen[1].client_address  # same client socket


def test_fetcher_recovers_after_an_aborted_body(
    site: LocalSite, fetcher: Fetcher, stop: threading.Event
) -> None:
    site.routes["/flood"] = flood(stop)
    site.routes["/fine"] = reply(alive=True)

    with pytest.raises(FetchRefused):
        fetch_page(fetcher, site.url("/flood"))
    assert "café" in fetch_page(fetcher, site.url("/fine")).html


def test_gzip_page_is_decoded(site: LocalSite, fetcher: Fetcher) -> None:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    site.routes["/gz"] = reply(
        body=compressor.compress(PAGE) + compressor.flush(), headers=[("Content-Encoding", "gzip")]
    )
    assert "Hello, café." in fetch_page(fetcher, site.url("/gz")).html


def test_repeated_response_headers_are_all_kept(site: LocalSite, fetcher: Fetcher) -> None:
    """Two ``Link`` headers (a hub and a self link, as WebSub publishers send them) reach the
    caller joined by a comma, not the last one alone."""
    links = [("Link", '<https://hub.example/>; rel="hub"'), ("Link", "</f.xml>; rel=self")]
    site.routes["/links.xml"] = reply(body=b"<rss/>", content_type="application/xml", headers=links)
    response = fetch_feed(fetcher, site.url("/links.xml"))
    assert response.headers["link"] == '<https://hub.example/>; rel="hub", </f.xml>; rel=self'


def test_proxy_environment_is_ignored(
    site: LocalSite, fetcher: Fetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as proxy:
        proxy.bind(("127.0.0.1", 0))
        proxy.listen(8)
        proxy_url = f"http://127.0.0.1:{proxy.getsockname()[1]}"
        for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"):
            monkeypatch.setenv(name, proxy_url)
        site.routes["/direct"] = reply()

        fetch_page(fetcher, site.url("/direct"))

        proxy.setblocking(False)
        with pytest.raises(BlockingIOError):
            proxy.accept()  # nobody connected to the proxy
    assert site.count("/direct") == 1


# --- SSRF guard ----------------------------------------------------------------------------


def test_loopback_is_blocked_without_an_allow_list(
    site: LocalSite, make_fetcher: Callable[..., Fetcher], tripwire: list[Any]
) -> None:
    fetcher = make_fetcher(allow=())

    with pytest.raises(BlockedDestination) as caught:
        fetch_page(fetcher, site.url("/"))

    assert caught.value.url == site.url("/")
    assert site.requests == []
    assert tripwire == []


BLOCKED = [
    "127.0.0.1",
    "10.0.0.1",
    "172.16.0.1",
    "192.168.1.1",
    "100.64.0.1",
    "169.254.169.254",
    "0.0.0.0",
    "198.18.0.1",
    "224.0.0.1",
    "255.255.255.255",
    "240.0.0.1",
    "::1",
    "::",
    "fd00::1",
    "fe80::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b::7f00:1",
    "64:ff9b:1::a9fe:a9fe",
    "2002:7f00:1::",
    "2002:a9fe:a9fe::1",
    "::7f00:1",
    "::a9fe:a9fe",
    "2001:db8::1",
]
PUBLIC = ["8.8.8.8", "93.184.216.34", "2606:4700::1111", "2a00:1450:4001:81c::200e"]


@pytest.mark.parametrize("text", BLOCKED)
def test_is_public_address_refuses(text: str) -> None:
    assert not is_public_address(ipaddress.ip_address(text))


@pytest.mark.parametrize("text", PUBLIC)
def test_is_public_address_accepts(text: str) -> None:
    assert is_public_address(ipaddress.ip_address(text))


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/",
        "http://0x7f000001/",
        "http://127.1/",
        "http://0177.0.0.1/",
        "http://127.0.0.1/",
        "http://0.0.0.0/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:7f00:1]/",
        "http://localhost/",
        "http://LOCALHOST/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://[fd00::1]/",
        "http://[fe80::1]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://[2002:7f00:1::]/",
        "https://127.0.0.1:8443/",
    ],
)
def test_odd_spellings_of_internal_addresses_are_blocked(
    url: str, make_fetcher: Callable[..., Fetcher], tripwire: list[Any]
) -> None:
    fetcher = make_fetcher(allow=())  # the real resolver
    with pytest.raises(BlockedDestination):
        fetch_page(fetcher, url)
    assert tripwire == []


@pytest.mark.parametrize(
    ("host", "addresses"),
    [
        ("redis", ["172.18.0.5"]),
        ("metadata.google.internal", ["169.254.169.254"]),
        ("foo.localhost", ["127.0.0.1", "::1"]),
        ("a.test", ["127.0.0.1"]),
        ("b.test", ["169.254.169.254"]),
        ("c.test", ["93.184.216.34", "10.0.0.5"]),
        ("d.test", ["10.0.0.5", "93.184.216.34"]),
        ("e.test", ["2606:4700::1111", "fd00::5"]),
    ],
)
def test_names_resolving_to_internal_addresses_are_blocked(
    host: str, addresses: list[str], make_fetcher: Callable[..., Fetcher], tripwire: list[Any]
) -> None:
    resolver = StubResolver({host: addresses})
    fetcher = make_fetcher(allow=(), resolver=resolver)

    with pytest.raises(BlockedDestination):
        fetch_page(fetcher, f"http://{host}/story")

    assert resolver.calls == [(host, 80)]
    assert tripwire == []


def test_allowed_and_blocked_mix_is_blocked(
    make_fetcher: Callable[..., Fetcher], tripwire: list[Any]
) -> None:
    resolver = StubResolver({"mixed.test": ["127.0.0.2", "10.0.0.5"]})
    fetcher = make_fetcher(allow=("127.0.0.2/32",), resolver=resolver)

    with pytest.raises(BlockedDestination):
        fetch_page(fetcher, "http://mixed.test:8080/")
    assert tripwire == []


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.test/pub/file.html",
        "gopher://127.0.0.1:70/_PING",
        "data:text/html,<p>hi</p>",
        "javascript:alert(1)",
        "dict://127.0.0.1:6379/INFO",
        "http:///no-host",
        "//example.test/no-scheme",
        "/relative/path",
    ],
)
def test_refused_schemes_are_blocked_before_resolving(
    url: str, make_fetcher: Callable[..., Fetcher], tripwire: list[Any]
) -> None:
    resolver = StubResolver({})
    fetcher = make_fetcher(resolver=resolver)

    with pytest.raises(BlockedDestination):
        fetch_page(fetcher, url)

    assert resolver.calls == []
    assert tripwire == []


@pytest.mark.parametrize("port", [6379, 22, 25, 11211, 2375])
def test_unlisted_port_on_a_public_address_is_blocked_without_connecting(
    port: int, make_fetcher: Callable[..., Fetcher], tripwire: list[Any]
) -> None:
    resolver = StubResolver({"news.example": ["93.184.216.34"]})
    fetcher = make_fetcher(allow=(), resolver=resolver)

    with pytest.raises(BlockedDestination, match=f"port {port}"):
        fetch_page(fetcher, f"http://news.example:{port}/story")

    assert resolver.calls == [("news.example", port)]
    assert tripwire == []


@pytest.mark.parametrize(
    "url",
    [
        "http://news.example:99999/",
        "http://news.example:-1/",
        "http://news.example:http/",
        "http://[::1/",
        "http://[not-an-address]/",
    ],
)
def test_malformed_urls_are_refused_not_crashing(
    url: str, make_fetcher: Callable[..., Fetcher], tripwire: list[Any]
) -> None:
    fetcher = make_fetcher(resolver=StubResolver({"news.example": ["93.184.216.34"]}))
    with pytest.raises(BlockedDestination):
        fetch_page(fetcher, url)
    assert tripwire == []


def test_connection_goes_to_the_validated_address(
    site: LocalSite, make_fetcher: Callable[..., Fetcher], tripwire: list[Any]
) -> None:
    """DNS rebinding: one resolution per hop, and the socket goes to the address checked."""
    port = int(site.base_url.rsplit(":", 1)[1])
    answers = iter([["127.0.0.1"], ["10.0.0.7"]])
    calls: list[str] = []

    def rebinding(host: str, _port: int) -> list[str]:
        calls.append(host)
        return next(answers)

    seen: list[BaseHTTPRequestHandler] = []
    site.routes["/story"] = reply(record=seen)
    fetcher = make_fetcher(allow=("127.0.0.1/32",), resolver=rebinding)

    page = fetch_page(fetcher, f"http://rebind.test:{port}/story")
    assert page.final_url == f"http://rebind.test:{port}/story"
    assert seen[0].headers["Host"] == f"rebind.test:{port}"
    assert calls == ["rebind.test"]
    assert hosts(tripwire) == {"127.0.0.1"}

    with pytest.raises(BlockedDestination):
        fetch_page(fetcher, f"http://rebind.test:{port}/story")
    assert hosts(tripwire) == {"127.0.0.1"}
    assert len(seen) == 1


@pytest.mark.parametrize("answer", [[], socket.gaierror(socket.EAI_NONAME, "unknown")])
def test_unresolvable_host_is_upstream_unavailable(
    answer: Any, make_fetcher: Callable[..., Fetcher]
) -> None:
    def resolver(host: str, port: int) -> list[str]:
        if isinstance(answer, Exception):
            raise answer
        return list(answer)

    with pytest.raises(UpstreamUnavailable):
        fetch_page(make_fetcher(resolver=resolver), "http://gone.example/")


# --- redirects -----------------------------------------------------------------------------


def test_redirect_chain_within_the_limit(site: LocalSite, fetcher: Fetcher) -> None:
    site.routes["/r1"] = redirect(site.url("/r2"), 301)  # absolute
    site.routes["/r2"] = redirect("/dir/r3", 302)  # root-relative
    site.routes["/dir/r3"] = redirect("../final?via=r3", 307)  # relative
    site.routes["/final"] = reply()

    page = fetch_page(fetcher, site.url("/r1"))

    assert page.url == site.url("/r1")
    assert page.final_url == site.url("/final?via=r3")
    assert "café" in page.html
    assert [path for _, path in site.requests] == ["/r1", "/r2", "/dir/r3", "/final"]


def test_redirects_over_keep_alive_with_bodies(site: LocalSite, fetcher: Fetcher) -> None:
    """Unread redirect bodies must not poison the pooled connection for the next hop."""
    site.routes["/k1"] = redirect("/k2", 302, body=b"moved: see /k2" * 50, alive=True)
    site.routes["/k2"] = redirect("/k3", 308, body=b"<a href=/k3>here</a>", alive=True)
    site.routes["/k3"] = reply(alive=True)

    assert fetch_page(fetcher, site.url("/k1")).final_url == site.url("/k3")
    assert fetch_page(fetcher, site.url("/k1")).final_url == site.url("/k3")


def test_too_many_redirects(site: LocalSite, make_fetcher: Callable[..., Fetcher]) -> None:
    for i in range(1, 5):
        site.routes[f"/hop{i}"] = redirect(f"/hop{i + 1}")
    site.routes["/hop5"] = reply()
    fetcher = make_fetcher(max_redirects=3)

    with pytest.raises(FetchRefused, match="redirects"):
        fetch_page(fetcher, site.url("/hop1"))
    assert site.count("/hop5") == 0
    assert len(site.requests) == 4


def test_no_redirects_allowed(site: LocalSite, make_fetcher: Callable[..., Fetcher]) -> None:
    site.routes["/once"] = redirect("/there")
    site.routes["/there"] = reply()
    with pytest.raises(FetchRefused):
        fetch_page(make_fetcher(max_redirects=0), site.url("/once"))
    assert site.count("/there") == 0


def test_redirect_loop(site: LocalSite, make_fetcher: Callable[..., Fetcher]) -> None:
    site.routes["/loop"] = redirect("/loop", 301)
    site.routes["/ping"] = redirect("/pong")
    site.routes["/pong"] = redirect("/ping")
    fetcher = make_fetcher(max_redirects=3)

    started = time.monotonic()
    with pytest.raises(FetchRefused):
        fetch_page(fetcher, site.url("/loop"))
    with pytest.raises(FetchRefused):
        fetch_page(fetcher, site.url("/ping"))

    assert time.monotonic() - started < 2.0
    assert len(site.requests) == 8


def test_redirect_to_an_internal_address_is_blocked(
    site: LocalSite,
    internal: LocalSite,
    make_fetcher: Callable[..., Fetcher],
    tripwire: list[Any],
) -> None:
    site.routes["/to-internal"] = redirect(internal.url("/feeds/rss10.rdf"))
    site.routes["/to-ten"] = redirect("http://10.0.0.1/admin", 307)
    site.routes["/to-v6"] = redirect("http://[::1]:6379/", 301)
    site.routes["/to-meta"] = redirect("http://169.254.169.254/latest/meta-data/", 303)
    fetcher = make_fetcher(allow=("127.0.0.1/32",))

    for path in ("/to-internal", "/to-ten", "/to-v6", "/to-meta"):
        with pytest.raises(BlockedDestination) as caught:
            fetch_page(fetcher, site.url(path))
        assert caught.value.url == site.url(path)

    assert internal.requests == []
    assert hosts(tripwire) == {"127.0.0.1"}


@pytest.mark.parametrize(
    "location",
    [
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_INFO",
        "ftp://127.0.0.1/etc/passwd",
        "data:text/html;base64,PHA+aGk8L3A+",
        "http://[::1",
        "http://127.0.0.1:99999/",
    ],
)
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_to_a_refused_url_is_blocked(
    location: str, status: int, site: LocalSite, fetcher: Fetcher
) -> None:
    site.routes["/jump"] = redirect(location, status)

    with pytest.raises(BlockedDestination) as caught:
        fetch_page(fetcher, site.url("/jump"))
    assert "root:" not in str(caught.value)


def test_redirect_without_location_is_not_a_page(site: LocalSite, fetcher: Fetcher) -> None:
    site.routes["/nowhere"] = reply(302, b"", content_type="")
    with pytest.raises(FetchRefused):
        fetch_page(fetcher, site.url("/nowhere"))


# --- status codes --------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 451])
def test_client_errors_are_refused(status: int, site: LocalSite, fetcher: Fetcher) -> None:
    site.routes["/err"] = reply(status, b"no")
    with pytest.raises(FetchRefused, match=str(status)) as caught:
        fetch_page(fetcher, site.url("/err"))
    assert caught.value.url == site.url("/err")


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_upstream_unavailable(
    status: int, site: LocalSite, fetcher: Fetcher
) -> None:
    site.routes["/err"] = reply(status, b"down")
    with pytest.raises(UpstreamUnavailable, match=str(status)) as caught:
        fetch_page(fetcher, site.url("/err"))
    assert caught.value.retry_after is None


@pytest.mark.parametrize(
    ("status", "retry_after", "expected"),
    [
        (429, "10", 10.0),
        (503, "120", 120.0),
        (429, " 7 ", 7.0),
        (429, "Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
        (429, "999999999", 86400.0),
        (429, "soon", None),
        (429, "-5", None),
    ],
)
def test_retry_after(
    status: int,
    retry_after: str,
    expected: float | None,
    site: LocalSite,
    fetcher: Fetcher,
) -> None:
    site.routes["/busy"] = reply(status, b"slow down", headers=[("Retry-After", retry_after)])
    with pytest.raises(UpstreamUnavailable) as caught:
        fetch_page(fetcher, site.url("/busy"))
    assert caught.value.retry_after == expected


def test_error_body_is_not_read(site: LocalSite, fetcher: Fetcher, stop: threading.Event) -> None:
    site.routes["/down"] = stalled(stop, status=503)
    assert timed_raise(UpstreamUnavailable, fetch_page, fetcher, site.url("/down")) < 1.0


def test_empty_body_is_refused(site: LocalSite, fetcher: Fetcher) -> None:
    site.routes["/empty"] = reply(200, b"  \n ")
    with pytest.raises(FetchRefused, match="empty"):
        fetch_page(fetcher, site.url("/empty"))


# --- limits --------------------------------------------------------------------------------


def test_body_at_the_cap_is_accepted_and_one_byte_more_is_refused(
    site: LocalSite, fetcher: Fetcher
) -> None:
    site.routes["/at"] = reply(body=b"a" * CAP)
    site.routes["/over"] = reply(body=b"a" * (CAP + 1))

    assert len(fetch_page(fetcher, site.url("/at")).html) == CAP
    with pytest.raises(FetchRefused, match="cap"):
        fetch_page(fetcher, site.url("/over"))


def test_declared_length_over_the_cap_is_refused_before_reading(
    site: LocalSite, fetcher: Fetcher, stop: threading.Event
) -> None:
    site.routes["/huge"] = stalled(stop, length=50_000_000)

    elapsed = timed_raise(FetchRefused, fetch_page, fetcher, site.url("/huge"))
    assert elapsed < 1.0  # the body never comes: reading it would hang until the timeout


@pytest.mark.parametrize("chunked", [False, True], ids=["read-to-close", "chunked"])
def test_endless_body_is_cut_at_the_cap(
    chunked: bool, site: LocalSite, fetcher: Fetcher, stop: threading.Event
) -> None:
    sent: list[int] = []
    site.routes["/endless"] = flood(stop, chunked=chunked, sent=sent)

    elapsed = timed_raise(FetchRefused, fetch_page, fetcher, site.url("/endless"))

    assert elapsed < 2.0
    deadline = time.monotonic() + 3
    while not sent and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sent and sent[0] < 64_000_000  # the server saw the connection go away


def test_content_length_lie_does_not_read_past_the_declared_length(
    site: LocalSite, fetcher: Fetcher
) -> None:
    def lying(request: BaseHTTPRequestHandler) -> None:
        request.send_response(200)
        request.send_header("Content-Type", HTML)
        request.send_header("Content-Length", "1000")
        request.end_headers()
        with contextlib.suppress(OSError):
            request.wfile.write(b"a" * 5_000_000)

    site.routes["/lie"] = lying
    assert len(fetch_page(fetcher, site.url("/lie")).html) == 1000


def test_truncated_body_is_upstream_unavailable(site: LocalSite, fetcher: Fetcher) -> None:
    def truncated(request: BaseHTTPRequestHandler) -> None:
        request.send_response(200)
        request.send_header("Content-Type", HTML)
        request.send_header("Content-Length", "100000")
        request.end_headers()
        request.wfile.write(b"<p>only the start")

    site.routes["/cut"] = truncated
    with pytest.raises(UpstreamUnavailable):
        fetch_page(fetcher, site.url("/cut"))


@pytest.mark.parametrize(
    ("encoding", "wbits", "layers"),
    [("gzip", 31, 1), ("deflate", 15, 1), ("gzip, gzip", 31, 2)],
)
def test_compression_bomb_is_refused_quickly_and_in_little_memory(
    encoding: str,
    wbits: int,
    layers: int,
    gzip_bomb: bytes,
    site: LocalSite,
    fetcher: Fetcher,
) -> None:
    body = (
        gzip_bomb
        if (wbits, layers) == (31, 1)
        else compressed(64 << 20, wbits=wbits, layers=layers)
    )
    assert len(body) < 300_000
    site.routes["/bomb"] = reply(body=body, headers=[("Content-Encoding", encoding)])

    tracemalloc.start()
    try:
        elapsed = timed_raise(FetchRefused, fetch_page, fetcher, site.url("/bomb"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert elapsed < 3.0
    assert peak < 20 * 1024 * 1024


def test_gzip_bomb_as_a_feed_is_refused(
    gzip_bomb: bytes, site: LocalSite, fetcher: Fetcher
) -> None:
    site.routes["/feed.xml"] = reply(
        body=gzip_bomb,
        content_type="application/rss+xml",
        headers=[("Content-Encoding", "gzip")],
    )
    assert timed_raise(FetchRefused, fetch_feed, fetcher, site.url("/feed.xml")) < 3.0


@pytest.mark.parametrize("chunked", [False, True], ids=["read-to-close", "chunked"])
def test_drip_body_is_too_slow_at_the_deadline(
    chunked: bool, site: LocalSite, make_fetcher: Callable[..., Fetcher], stop: threading.Event
) -> None:
    """Headers came, then a byte every 0.3 s: dropped as too_slow, not retried six times."""
    site.routes["/drip"] = drip(stop, chunked=chunked)
    site.routes["/fine"] = reply()
    fetcher = make_fetcher(deadline_s=2.0, read_timeout_s=10.0)

    elapsed = timed_raise(TooSlow, fetch_page, fetcher, site.url("/drip"))

    assert 1.5 < elapsed < 2.0 + 1.5
    assert "café" in fetch_page(fetcher, site.url("/fine")).html  # the fetcher still works
    with pytest.raises(TooSlow) as caught:
        fetch_page(fetcher, site.url("/drip"))
    assert caught.value.reason == "too_slow"
    assert is_permanent(caught.value)


def test_drip_headers_time_out_at_the_deadline(
    site: LocalSite, make_fetcher: Callable[..., Fetcher], stop: threading.Event
) -> None:
    site.routes["/slow-headers"] = drip_headers(stop)
    fetcher = make_fetcher(deadline_s=2.0, read_timeout_s=10.0)

    elapsed = timed_raise(FetchTimeout, fetch_page, fetcher, site.url("/slow-headers"))
    assert elapsed < 2.0 + 1.5


def test_silent_server_times_out_within_the_deadline(make_fetcher: Callable[..., Fetcher]) -> None:
    with socket.socket() as silent:  # accepts (kernel backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        fetcher = make_fetcher(deadline_s=2.0, read_timeout_s=10.0)

        elapsed = timed_raise(FetchTimeout, fetch_page, fetcher, url)

    assert 1.5 < elapsed < 2.0 + 0.5


def test_read_timeout_shorter_than_the_deadline(
    site: LocalSite, make_fetcher: Callable[..., Fetcher], stop: threading.Event
) -> None:
    site.routes["/stall"] = stalled(stop, length=1000)
    fetcher = make_fetcher(deadline_s=5.0, read_timeout_s=0.5)

    elapsed = timed_raise(FetchTimeout, fetch_page, fetcher, site.url("/stall"))
    assert elapsed < 1.5


@pytest.mark.parametrize(
    "content_type", ["image/png", "application/pdf", "application/octet-stream", "video/mp4"]
)
def test_wrong_content_type_is_refused_without_reading_the_body(
    content_type: str, site: LocalSite, fetcher: Fetcher, stop: threading.Event
) -> None:
    site.routes["/file"] = stalled(stop, content_type=content_type, length=1000)

    with pytest.raises(FetchRefused, match="content type") as caught:
        started = time.monotonic()
        fetch_page(fetcher, site.url("/file"))
    assert time.monotonic() - started < 1.0  # the body never comes: reading it would hang
    assert content_type in str(caught.value)


def test_feed_with_an_image_content_type_is_refused(
    site: LocalSite, fetcher: Fetcher, stop: threading.Event
) -> None:
    site.routes["/feed.png"] = stalled(stop, content_type="image/png", length=1000)
    with pytest.raises(FetchRefused, match="content type"):
        fetch_feed(fetcher, site.url("/feed.png"))


def test_connection_refused_is_upstream_unavailable(fetcher: Fetcher) -> None:
    url = f"http://127.0.0.1:{unused_port()}/"
    elapsed = timed_raise(UpstreamUnavailable, fetch_page, fetcher, url)
    assert elapsed < 1.0


def test_tls_to_a_plain_http_server_fails_closed(site: LocalSite, fetcher: Fetcher) -> None:
    site.routes["/"] = reply()
    url = site.base_url.replace("http://", "https://") + "/"
    with pytest.raises(UpstreamUnavailable):
        fetch_page(fetcher, url)


@pytest.mark.parametrize("shape", ["many", "long"])
def test_header_bombs_fail_fast(shape: str, site: LocalSite, fetcher: Fetcher) -> None:
    def bomb(request: BaseHTTPRequestHandler) -> None:
        request.send_response(200)
        if shape == "many":
            for i in range(10_000):
                request.send_header(f"X-H{i}", "v")
        else:
            request.send_header("Set-Cookie", "a=" + "b" * 1_000_000)
        request.end_headers()
        with contextlib.suppress(OSError):
            request.wfile.write(PAGE)

    site.routes["/headers"] = bomb
    elapsed = timed_raise(UpstreamUnavailable, fetch_page, fetcher, site.url("/headers"))
    assert elapsed < 1.0


# --- charsets ------------------------------------------------------------------------------


def serve_fixture(site: LocalSite, name: str, content_type: str) -> str:
    body = (FIXTURES / "fetch" / name).read_bytes()
    site.routes[f"/{name}"] = reply(body=body, content_type=content_type)
    return site.url(f"/{name}")


def test_latin1_declared_in_the_header(site: LocalSite, fetcher: Fetcher) -> None:
    url = serve_fixture(site, "latin1.html", "text/html; charset=iso-8859-1")
    html = fetch_page(fetcher, url).html
    assert "Le café du port rouvre" in html
    assert "« Enfin »" in html and "\ufffd" not in html


def test_windows_1252_declared_in_a_meta_tag(site: LocalSite, fetcher: Fetcher) -> None:
    url = serve_fixture(site, "windows-1252-meta.html", "text/html")
    html = fetch_page(fetcher, url).html
    assert "Café prices rise by 5 €" in html
    assert "\u201cIt was expected\u201d" in html and "\ufffd" not in html


def test_undeclared_utf8(site: LocalSite, fetcher: Fetcher) -> None:
    url = serve_fixture(site, "utf8-undeclared.html", "text/html")
    html = fetch_page(fetcher, url).html
    assert "Das Café am Bürkliplatz schließt" in html
    assert "naïve résumé — 東京 ✓" in html and "\ufffd" not in html


@pytest.mark.parametrize(
    ("body", "header", "expected"),
    [
        ("café".encode("latin-1"), "text/html; charset=ISO-8859-1", "café"),
        ("café".encode("latin-1"), 'text/html; charset="latin1"', "café"),
        ("café".encode(), "text/html; charset=utf-8", "café"),
        ("café".encode(), "text/html; charset=x-no-such-codec", "café"),
        ("café".encode(), "", "café"),
        (
            b'<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">caf\xe9',
            "text/html",
            "café",
        ),
        (b"<meta charset='koi8-r'>\xf0\xd2\xc9\xd7\xc5\xd4", "", "Привет"),
        ("Grüße aus Köln".encode("utf-16"), "text/html; charset=utf-16", "Grüße aus Köln"),
        (b'<meta charset="utf-16"><p>caf\xc3\xa9!</p>', "text/html", "<p>café!</p>"),
        (b"", "text/html", ""),
    ],
)
def test_decode_html(body: bytes, header: str, expected: str) -> None:
    text = decode_html(body, header)
    assert expected in text
    assert "\ufffd" not in text


def test_decode_html_short_utf8_without_any_declaration() -> None:
    for text in ("café", "Zürich", "naïve", "<p>Ein Café</p>", "✓ ok", "€5", "—"):
        assert decode_html(text.encode(), "") == text


# --- feeds ---------------------------------------------------------------------------------


def test_fetch_feed_conditional_get(site: LocalSite, fetcher: Fetcher) -> None:
    url = site.url("/feeds/relative_links.xml")

    first = fetch_feed(fetcher, url)
    assert first.status == 200
    assert first.content_type == "application/rss+xml"
    assert first.body == (FIXTURES / "feeds" / "relative_links.xml").read_bytes()
    etag = first.headers["etag"]

    second = fetch_feed(fetcher, url, etag=etag)
    assert (second.status, second.body) == (304, b"")
    assert second.headers["etag"] == etag

    third = fetch_feed(fetcher, url, etag='"stale"')
    assert (third.status, third.body) == (200, first.body)


def test_fetch_feed_sends_conditional_headers(site: LocalSite, fetcher: Fetcher) -> None:
    seen: list[BaseHTTPRequestHandler] = []
    site.routes["/cond.xml"] = reply(304, b"", content_type="", record=seen)
    stamp = "Wed, 21 Oct 2026 07:28:00 GMT"

    response = fetch_feed(fetcher, site.url("/cond.xml"), etag='"v1"', last_modified=stamp)

    assert (response.status, response.body) == (304, b"")
    (request,) = seen
    assert request.headers["If-None-Match"] == '"v1"'
    assert request.headers["If-Modified-Since"] == stamp
    assert "application/rss+xml" in request.headers["Accept"]


def test_fetch_feed_without_validators_sends_none(site: LocalSite, fetcher: Fetcher) -> None:
    seen: list[BaseHTTPRequestHandler] = []
    site.routes["/plain.xml"] = reply(body=b"<rss/>", content_type="text/xml", record=seen)

    assert fetch_feed(fetcher, site.url("/plain.xml")).body == b"<rss/>"
    assert "If-None-Match" not in seen[0].headers
    assert "If-Modified-Since" not in seen[0].headers


def test_fetch_feed_caps_at_max_feed_bytes(
    site: LocalSite, make_fetcher: Callable[..., Fetcher]
) -> None:
    site.routes["/big.xml"] = reply(body=b"<rss>" + b" " * 5000, content_type="text/xml")
    with pytest.raises(FetchRefused):
        fetch_feed(make_fetcher(max_feed_bytes=1000), site.url("/big.xml"))


def test_retry_after_http_date_in_the_future(site: LocalSite, fetcher: Fetcher) -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    site.routes["/later"] = reply(503, b"maintenance", headers=[("Retry-After", when)])
    with pytest.raises(UpstreamUnavailable) as caught:
        fetch_page(fetcher, site.url("/later"))
    assert caught.value.status == 503
    assert caught.value.retry_after is not None and 25 <= caught.value.retry_after <= 30


# --- permanent or retryable (issue #15, point 14) ----------------------------------------


def is_permanent(error: PipelineError) -> bool:
    """The worker drops the entry at once (no retry), as it does for any DropArticle."""
    decision = next_step(error, Attempt(), WorkerSettings())
    return isinstance(error, DropArticle) and isinstance(decision, GiveUp)


def is_retried(error: PipelineError) -> bool:
    decision = next_step(error, Attempt(), WorkerSettings())
    return isinstance(error, RetryableError) and isinstance(decision, RetryLater)


def gzipped(data: bytes, layers: int = 1) -> bytes:
    for _ in range(layers):
        compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
        data = compressor.compress(data) + compressor.flush()
    return data


def deflated(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 15)
    return compressor.compress(data) + compressor.flush()


CORRUPT = {
    "gzip-garbage": ("gzip", gzipped(PAGE)[:10] + b"\xff" * 200),
    "gzip-flipped": ("gzip", gzipped(PAGE * 20)[:40] + b"\x00" * 40 + gzipped(PAGE * 20)[80:]),
    "gzip-bad-crc": ("gzip", gzipped(PAGE)[:-8] + b"\x00\x00\x00\x00" + gzipped(PAGE)[-4:]),
    "plain-labelled-gzip": ("gzip", PAGE),
    "deflate-garbage": ("deflate", b"\xff" * 300),
    "six-stacked": (", ".join(["gzip"] * 6), gzipped(PAGE, layers=6)),
    "gzip-then-unknown": ("gzip, x-unknown", gzipped(PAGE)),
}


@pytest.mark.parametrize("case", CORRUPT, ids=list(CORRUPT))
def test_undecodable_bodies_are_dropped_not_retried(
    case: str, site: LocalSite, fetcher: Fetcher
) -> None:
    encoding, body = CORRUPT[case]
    site.routes["/enc"] = reply(body=body, headers=[("Content-Encoding", encoding)])
    site.routes["/feed.xml"] = reply(
        body=body, content_type="application/rss+xml", headers=[("Content-Encoding", encoding)]
    )

    with pytest.raises(UndecodableBody) as caught:
        fetch_page(fetcher, site.url("/enc"))
    assert caught.value.reason == "undecodable_body"
    assert "content-encoding" in str(caught.value)
    assert is_permanent(caught.value)
    assert isinstance(caught.value, FetchRefused)
    with pytest.raises(UndecodableBody):
        fetch_feed(fetcher, site.url("/feed.xml"))


def test_five_stacked_encodings_still_decode(site: LocalSite, fetcher: Fetcher) -> None:
    site.routes["/five"] = reply(
        body=gzipped(PAGE, layers=5), headers=[("Content-Encoding", ", ".join(["gzip"] * 5))]
    )
    site.routes["/deflate"] = reply(body=deflated(PAGE), headers=[("Content-Encoding", "deflate")])
    assert "café" in fetch_page(fetcher, site.url("/five")).html
    assert "café" in fetch_page(fetcher, site.url("/deflate")).html


def test_failures_before_a_response_stay_retryable(
    site: LocalSite, make_fetcher: Callable[..., Fetcher], stop: threading.Event
) -> None:
    """No headers by the deadline, a refused connection, 5xx, 429, a stalled body (read
    timeout, not the deadline) and a cut connection are all retried."""
    site.routes["/slow-headers"] = drip_headers(stop)
    site.routes["/stall"] = stalled(stop, length=1000)
    site.routes["/503"] = reply(503, b"busy")
    site.routes["/429"] = reply(429, b"slow down", headers=[("Retry-After", "5")])

    def cut(request: BaseHTTPRequestHandler) -> None:
        request.send_response(200)
        request.send_header("Content-Type", HTML)
        request.send_header("Content-Length", "100000")
        request.end_headers()
        request.wfile.write(b"<p>only the start")

    site.routes["/cut"] = cut
    fetcher = make_fetcher(deadline_s=1.5, read_timeout_s=0.5)
    errors: list[PipelineError] = []
    cases: list[tuple[str, type[PipelineError]]] = [
        ("/slow-headers", FetchTimeout),
        ("/stall", FetchTimeout),
        ("/503", UpstreamUnavailable),
        ("/429", UpstreamUnavailable),
        ("/cut", UpstreamUnavailable),
    ]
    for path, expected in cases:
        with pytest.raises(expected) as caught:
            fetch_page(fetcher, site.url(path))
        errors.append(caught.value)
    with pytest.raises(UpstreamUnavailable) as refused:
        fetch_page(fetcher, f"http://127.0.0.1:{unused_port()}/")
    errors.append(refused.value)
    with socket.socket() as silent:  # accepts (kernel backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        with pytest.raises(FetchTimeout) as timed_out:
            fetch_page(
                make_fetcher(deadline_s=1.0, read_timeout_s=5.0),
                f"http://127.0.0.1:{silent.getsockname()[1]}/",
            )
        errors.append(timed_out.value)

    assert all(is_retried(error) for error in errors), [type(e).__name__ for e in errors]


# --- hop gate (issue #15, point 15) --------------------------------------------------------


def test_hop_gate_runs_around_every_hop_after_its_ssrf_check(
    site: LocalSite, internal: LocalSite, make_fetcher: Callable[..., Fetcher]
) -> None:
    site.routes["/r1"] = redirect("/r2")
    site.routes["/r2"] = redirect(site.url("/final"))
    site.routes["/final"] = reply()
    site.routes["/to-internal"] = redirect(internal.url("/x"))
    site.routes["/to-file"] = redirect("file:///etc/passwd")
    events: list[str] = []

    @contextlib.contextmanager
    def gate(url: str) -> Iterator[None]:
        events.append(f"enter {url}")
        yield
        events.append(f"exit {url}")

    fetcher = make_fetcher(allow=("127.0.0.1/32",))
    page = fetch_page(fetcher, site.url("/r1"), hop_gate=gate)
    assert page.final_url == site.url("/final")
    assert events == [
        f"{step} {site.url(path)}"
        for path in ("/r1", "/r2", "/final")
        for step in ("enter", "exit")
    ]

    events.clear()
    for path in ("/to-internal", "/to-file"):
        with pytest.raises(BlockedDestination):
            fetch_page(fetcher, site.url(path), hop_gate=gate)
    assert events == [
        f"{step} {site.url(p)}" for p in ("/to-internal", "/to-file") for step in ("enter", "exit")
    ]
    assert internal.requests == []


def test_hop_gate_can_stop_a_redirect(site: LocalSite, fetcher: Fetcher) -> None:
    site.routes["/go"] = redirect("/stop-here")
    site.routes["/stop-here"] = reply()

    def gate(url: str) -> contextlib.AbstractContextManager[object]:
        if url.endswith("/stop-here"):
            raise FetchRefused("the gate says no", url=url)
        return contextlib.nullcontext()

    with pytest.raises(FetchRefused, match="the gate says no"):
        fetch_page(fetcher, site.url("/go"), hop_gate=gate)
    assert site.count("/stop-here") == 0
