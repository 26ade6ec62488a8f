"""HTTP fetching that is safe by default. The only module that imports the HTTP client.

Every hop is checked before a byte is sent: http(s) only, the host resolved once, every
address it resolves to must be public (or inside ``fetch.allow``), and the connection goes to
the validated address, so DNS rebinding has no window. Through a proxy too: every request,
http or https, goes through a CONNECT tunnel to the validated address (never to the name, which
the proxy would resolve again), with TLS, SNI and the certificate check for the host name
end to end inside it. Bodies are capped after decompression, a monotonic deadline bounds the
whole fetch and its redirects (a watchdog shuts the socket down when it passes, however slowly
the server drips), and redirects are followed by hand, each hop through the caller's
``hop_gate`` (politeness) when it gives one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import email.utils
import ipaddress
import re
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, unquote, urljoin, urlsplit

import urllib3
import urllib3.connection
from urllib3.connection import ProxyConfig
from urllib3.exceptions import (
    DecodeError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    SSLError,
)
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util import Url, make_headers, parse_url
from urllib3.util.ssl_ import create_urllib3_context

from pipeline.errors import (
    BlockedDestination,
    FetchRefused,
    FetchTimeout,
    TooSlow,
    UndecodableBody,
    UpstreamUnavailable,
)
from pipeline.fetch.addresses import Resolver, resolve_host, validated_address
from pipeline.fetch.charset import decode_html
from pipeline.fetch.deadline import Watchdog
from pipeline.models import Page, utc_now
from pipeline.settings import FetchSettings

if TYPE_CHECKING:
    from urllib3._base_connection import BaseHTTPConnection

HTML_TYPES = ("text/html", "application/xhtml+xml")
FEED_TYPES = (
    "application/rss+xml",
    "application/atom+xml",
    "application/rdf+xml",
    "application/xml",
    "text/xml",
    "application/feed+json",
    "application/json",
    "text/plain",
    "text/html",
    "application/x-rss+xml",
    "application/octet-stream",
    "binary/octet-stream",
    "application/x-gzip",
    "application/gzip",
)
_CHUNK = 64 * 1024
_HTML_START = re.compile(rb"<(!doctype html|html|head|body|meta|title|p|div)[\s>/]", re.I)
_MAX_RETRY_AFTER_S = 86_400.0
_REDIRECTS = {301, 302, 303, 307, 308}
_PERMANENT = {301, 308}
_DEADLINE_SLACK_S = 0.05  # a socket timeout clipped to the deadline ends this close to it

HopGate = Callable[[str], AbstractContextManager[object]]
"""Called with the URL of every hop of a fetch (the first and each redirect target) once the
SSRF checks passed; the hop's request runs inside the context it returns. It may raise
(robots.txt, a throttled host) to stop the fetch."""


def _open_gate(url: str) -> AbstractContextManager[object]:
    return contextlib.nullcontext()


@dataclass(frozen=True, slots=True, kw_only=True)
class Response:
    """A complete HTTP response with its body capped and decoded from transfer encodings."""

    url: str
    final_url: str
    status: int
    headers: Mapping[str, str]
    body: bytes
    permanent_url: str = ""
    """Where the leading run of permanent redirects (301, 308) ended, if there was one: the
    URL the original should be replaced with. Empty when the first hop was not permanent."""

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


class _WatchedHTTPConnection(urllib3.connection.HTTPConnection):
    """A connection that hands its sockets to the fetcher's watchdog (set per fetcher)."""

    watchdog: Watchdog

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        self.watchdog.track(sock)  # from the TCP connect on: a proxy's CONNECT, TLS handshakes
        return sock

    def connect(self) -> None:
        super().connect()
        # The socket as finally wrapped (TLS); inside TLS to a proxy urllib3 keeps an
        # SSLTransport whose .socket is the TLS socket to shut down.
        sock = getattr(self.sock, "socket", self.sock)
        if isinstance(sock, socket.socket):
            self.watchdog.track(sock)


class _WatchedHTTPSConnection(_WatchedHTTPConnection, urllib3.connection.HTTPSConnection):
    """The TLS variant (the MRO puts HTTPSConnection.connect under the tracking)."""


class _TunnelledHTTPConnection(_WatchedHTTPConnection):
    """Plain HTTP inside a CONNECT tunnel (see _TunnelPool); TLS to an https:// proxy."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        if self.proxy is not None and self.proxy.scheme == "https":
            context = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
            context.load_default_certs()
            sock = context.wrap_socket(sock, server_hostname=self.proxy.host)
            self.watchdog.track(sock)
        return sock


class _TunnelPool(urllib3.HTTPConnectionPool):
    """Plain HTTP to ``host`` (a validated address) through a CONNECT tunnel of ``_proxy``.

    urllib3 itself would forward plain HTTP with an absolute-form request naming the host,
    which the proxy resolves again; HTTPS pools tunnel to their (validated) host already.
    """

    def _new_conn(self) -> BaseHTTPConnection:
        assert self.proxy is not None and self.proxy.host is not None
        self.num_connections += 1
        return self.ConnectionCls(
            host=self.proxy.host,
            port=self.proxy.port,
            timeout=self.timeout.connect_timeout,
            **self.conn_kw,
        )

    def _prepare_proxy(self, conn: BaseHTTPConnection) -> None:
        conn.set_tunnel(self._tunnel_host, self.port, headers=self.proxy_headers)
        conn.connect()


@dataclass(frozen=True, slots=True)
class _Target:
    """One hop's destination once the SSRF checks passed: connect to ``address`` only."""

    url: str
    parts: SplitResult
    host: str
    port: int
    address: str

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.parts.port is None else f"{host}:{self.parts.port}"

    @property
    def path(self) -> str:
        return (self.parts.path or "/") + (f"?{self.parts.query}" if self.parts.query else "")


@dataclass(frozen=True, slots=True, kw_only=True)
class _Request:
    """One logical GET (all its redirect hops)."""

    original: str
    max_bytes: int
    accept: tuple[str, ...]
    headers: dict[str, str]
    proxy: str


def _watched_pool_classes(watchdog: Watchdog) -> dict[str, type[urllib3.HTTPConnectionPool]]:
    """Pool classes whose connections report their sockets to ``watchdog``."""
    http = type("Conn", (_WatchedHTTPConnection,), {"watchdog": watchdog})
    https = type("TLSConn", (_WatchedHTTPSConnection,), {"watchdog": watchdog})
    tunnel = type("TunnelConn", (_TunnelledHTTPConnection,), {"watchdog": watchdog})
    return {
        "http": type("Pool", (urllib3.HTTPConnectionPool,), {"ConnectionCls": http}),
        "https": type("TLSPool", (urllib3.HTTPSConnectionPool,), {"ConnectionCls": https}),
        "tunnel": type("TunnelPool", (_TunnelPool,), {"ConnectionCls": tunnel}),
    }


class Fetcher:
    """An HTTP client with the SSRF guard, caps and deadline. One per process; not thread-safe."""

    def __init__(self, settings: FetchSettings, *, resolver: Resolver = resolve_host) -> None:
        self.settings = settings
        self._resolver = resolver
        self._allow = tuple(ipaddress.ip_network(c, strict=False) for c in settings.allow)
        self._pools: dict[tuple[str, str, int, str, str], urllib3.HTTPConnectionPool] = {}
        self._watchdog = Watchdog()
        self._pool_classes = _watched_pool_classes(self._watchdog)

    def close(self) -> None:
        """Close every pooled connection and stop the deadline thread."""
        self._watchdog.close()
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()

    def get(
        self,
        url: str,
        *,
        max_bytes: int,
        accept: tuple[str, ...],
        headers: Mapping[str, str] | None = None,
        proxy: str = "",
        hop_gate: HopGate | None = None,
    ) -> Response:
        """GET ``url`` following at most ``max_redirects`` redirects, each hop re-validated.

        ``proxy`` (else ``settings.proxy``) sends every hop through a CONNECT tunnel of that
        HTTP(S) proxy to the address validated here (the proxy never resolves the name).
        ``hop_gate`` is entered around every hop's request, after its SSRF checks; the
        deadline starts with the first request and covers the whole chain, the gate's waits
        for later hops included.

        Raises:
            BlockedDestination: a refused scheme, port or address (on any hop).
            FetchRefused: 4xx, a content type outside ``accept``, a body over ``max_bytes``,
                or too many redirects.
            UndecodableBody: a corrupt Content-Encoding, or too many stacked.
            TooSlow: the headers came, but the deadline passed before the body was complete.
            FetchTimeout: the deadline passed before a response, or the body stalled.
            UpstreamUnavailable: connection failure, TLS failure, 5xx or 429.
            Whatever ``hop_gate`` raises.
        """
        request = _Request(
            original=url,
            max_bytes=max_bytes,
            accept=accept,
            headers=dict(headers or {}),
            proxy=proxy or self.settings.proxy,
        )
        gate = hop_gate or _open_gate
        deadline: float | None = None
        current, moved, permanent = url, "", True
        for _hop in range(self.settings.max_redirects + 1):
            target = self._target(current, url)
            with gate(current):
                if deadline is None:
                    deadline = time.monotonic() + self.settings.deadline_s
                response = self._get_once(request, target, deadline)
            location = response.headers.get("location")
            if response.status not in _REDIRECTS or not location:
                return dataclasses.replace(response, permanent_url=moved) if moved else response
            current = _redirect_target(current, location, url)
            permanent = permanent and response.status in _PERMANENT
            moved = current if permanent else moved
        raise FetchRefused(f"more than {self.settings.max_redirects} redirects", url=url)

    def _target(self, url: str, original: str) -> _Target:
        parts, host, port = _split_target(url, original)
        address = validated_address(
            host,
            port,
            resolver=self._resolver,
            allow=self._allow,
            ports=self.settings.ports,
            url=original,
        )
        return _Target(url=url, parts=parts, host=host, port=port, address=address)

    def _get_once(self, request: _Request, target: _Target, deadline: float) -> Response:
        """One hop, with the watchdog armed until the chain's deadline."""
        remaining = self._remaining(deadline, request.original)
        with self._watchdog.armed(remaining):
            try:
                raw = self._send(request, target, remaining)
            except UpstreamUnavailable as exc:
                if self._watchdog.fired:  # the watchdog cut the connection
                    raise FetchTimeout("fetch deadline passed", url=request.original) from exc
                raise
            if self._watchdog.fired:  # headers cut short by the watchdog look complete
                raw.close()
                raw.release_conn()
                raise FetchTimeout("fetch deadline passed in the headers", url=request.original)
            return self._read_response(raw, request, target.url, deadline)

    def _send(
        self, request: _Request, target: _Target, remaining: float
    ) -> urllib3.BaseHTTPResponse:
        """Send the request to the validated address (through the proxy's tunnel, if any)."""
        original = request.original
        headers = {
            "User-Agent": self.settings.user_agent,
            "Accept-Encoding": "gzip, deflate",
            **request.headers,
            "Host": target.host_header,
        }
        options: dict[str, Any] = {
            "headers": headers,
            "redirect": False,
            "retries": False,
            "preload_content": False,
            "decode_content": True,
            "timeout": urllib3.Timeout(
                connect=min(self.settings.connect_timeout_s, remaining),
                read=min(self.settings.read_timeout_s, remaining),
            ),
        }
        try:
            return self._pool(target, request.proxy).urlopen("GET", target.path, **options)
        except NewConnectionError as exc:  # refused or unreachable (a ConnectTimeoutError subclass)
            raise UpstreamUnavailable(f"connection failed: {exc}", url=original) from exc
        except Urllib3Timeout as exc:
            raise FetchTimeout(f"timed out connecting: {exc}", url=original) from exc
        except (SSLError, ProtocolError, HTTPError, OSError) as exc:
            raise UpstreamUnavailable(f"connection failed: {exc}", url=original) from exc

    def _read_response(
        self, raw: urllib3.BaseHTTPResponse, request: _Request, url: str, deadline: float
    ) -> Response:
        original, max_bytes, accept = request.original, request.max_bytes, request.accept
        headers = {k.lower(): v for k, v in raw.headers.itermerged()}  # repeated: joined by ", "
        try:
            _check_status(raw.status, headers, original)
            if raw.status in _REDIRECTS or raw.status == 304:
                return Response(
                    url=original, final_url=url, status=raw.status, headers=headers, body=b""
                )
            _check_type(headers, accept, original)
            _check_length(headers, max_bytes, original)
            body = self._read_body(raw, max_bytes, deadline, original)
        except BaseException:
            raw.close()
            raw.release_conn()
            raise
        raw.release_conn()
        return Response(url=original, final_url=url, status=raw.status, headers=headers, body=body)

    def _read_body(
        self, raw: urllib3.BaseHTTPResponse, max_bytes: int, deadline: float, url: str
    ) -> bytes:
        """The body; the deadline passing now is ``TooSlow``: the server answered, then dripped
        (a drip would be as slow on every retry, and each one holds a worker and a host slot
        for the whole deadline)."""
        read_timeout = self.settings.read_timeout_s
        try:
            body = _read_capped(raw, max_bytes, deadline, url, read_timeout)
        except (FetchTimeout, UpstreamUnavailable) as exc:
            if self._watchdog.fired or time.monotonic() >= deadline - _DEADLINE_SLACK_S:
                raise TooSlow(f"body not complete by the deadline: {exc.message}", url=url) from exc
            raise  # a stalled read (read_timeout_s) or a broken connection: retryable
        if self._watchdog.fired:  # a read-to-close body cut short looks complete
            raise TooSlow("body not complete by the deadline", url=url)
        return body

    def _pool(self, target: _Target, proxy: str) -> urllib3.HTTPConnectionPool:
        """A pool to ``target.address`` only, direct or through ``proxy``'s CONNECT tunnel."""
        scheme, address, port, host = target.parts.scheme, target.address, target.port, target.host
        key = (scheme, address, port, host, proxy)
        pool = self._pools.get(key)
        if pool is None:
            if len(self._pools) >= 256:  # the pools only: the watchdog is armed for this hop
                for stale in self._pools.values():
                    stale.close()
                self._pools.clear()
            options: dict[str, Any] = {"maxsize": 2}
            if proxy:
                options |= _proxy_options(proxy)
            if scheme == "https":
                pool = self._pool_classes["https"](
                    address,
                    port,
                    server_hostname=host,
                    assert_hostname=host,
                    cert_reqs="CERT_REQUIRED",
                    **options,
                )
            else:
                pool = self._pool_classes["tunnel" if proxy else "http"](address, port, **options)
            self._pools[key] = pool
        return pool

    @staticmethod
    def _remaining(deadline: float, url: str) -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchTimeout("fetch deadline passed", url=url)
        return remaining


def _proxy_options(proxy_url: str) -> dict[str, Any]:
    """Pool options that tunnel through ``proxy_url`` (credentials in it: Basic auth)."""
    proxy: Url = parse_url(proxy_url)
    if proxy.port is None:
        proxy = proxy._replace(port=443 if proxy.scheme == "https" else 80)
    headers = make_headers(proxy_basic_auth=unquote(proxy.auth)) if proxy.auth else {}
    return {
        "_proxy": proxy,
        "_proxy_headers": headers,
        "_proxy_config": ProxyConfig(None, False, None, None),
    }


def _split_target(url: str, original: str) -> tuple[SplitResult, str, int]:
    """The parts, host and port of an http(s) URL; anything else is refused."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:  # bad port, unbalanced or invalid [IPv6] host
        raise BlockedDestination(f"malformed URL {url[:200]!r}: {exc}", url=original) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BlockedDestination(f"refused URL scheme or host: {url[:200]!r}", url=original)
    return parts, parts.hostname, port


def _redirect_target(current: str, location: str, original: str) -> str:
    try:
        return urljoin(current, location)
    except ValueError as exc:
        raise BlockedDestination(f"malformed redirect {location[:200]!r}", url=original) from exc


def _check_status(status: int, headers: Mapping[str, str], url: str) -> None:
    if status == 429 or status >= 500:
        raise UpstreamUnavailable(
            f"HTTP {status}",
            url=url,
            status=status,
            retry_after=_retry_after(headers.get("retry-after")),
        )
    if status >= 400:
        raise FetchRefused(f"HTTP {status}", url=url, status=status)


def _check_type(headers: Mapping[str, str], accept: tuple[str, ...], url: str) -> None:
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type and content_type not in accept:
        raise FetchRefused(f"content type {content_type!r} is not accepted", url=url)


def _check_length(headers: Mapping[str, str], max_bytes: int, url: str) -> None:
    length = headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes and not headers.get("content-encoding"):
        raise FetchRefused(f"body of {length} bytes is over the {max_bytes} cap", url=url)


def _read_capped(
    raw: urllib3.BaseHTTPResponse, max_bytes: int, deadline: float, url: str, read_timeout: float
) -> bytes:
    chunks: list[bytes] = []
    total = 0
    try:
        for chunk in raw.stream(_CHUNK, decode_content=True):
            total += len(chunk)
            if total > max_bytes:
                raise FetchRefused(f"body over the {max_bytes}-byte cap", url=url)
            chunks.append(chunk)
            _shrink_socket_timeout(raw, deadline, url, read_timeout)
    except Urllib3Timeout as exc:
        raise FetchTimeout(f"read timed out: {exc}", url=url) from exc
    except DecodeError as exc:  # corrupt gzip/deflate, or more than 5 codings stacked
        encoding = raw.headers.get("content-encoding", "")[:100]
        raise UndecodableBody(
            f"content-encoding {encoding!r} cannot be decoded: {exc}", url=url
        ) from exc
    except (ProtocolError, HTTPError, OSError) as exc:
        raise UpstreamUnavailable(f"body read failed: {exc}", url=url) from exc
    return b"".join(chunks)


def _shrink_socket_timeout(
    raw: urllib3.BaseHTTPResponse, deadline: float, url: str, read_timeout: float
) -> None:
    """Keep the next socket read inside the deadline (a drip body cannot outlast it)."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise FetchTimeout("fetch deadline passed while reading the body", url=url)
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    if sock is not None:
        sock.settimeout(min(read_timeout, remaining))


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date), capped at a day."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), _MAX_RETRY_AFTER_S)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return min(max(0.0, when.timestamp() - time.time()), _MAX_RETRY_AFTER_S)


def fetch_page(
    fetcher: Fetcher,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    proxy: str = "",
    hop_gate: HopGate | None = None,
) -> Page:
    """Fetch one HTML page, decoded to text.

    Raises:
        BlockedDestination, FetchRefused, TooSlow, FetchTimeout, UpstreamUnavailable: see
            Fetcher.get (and whatever ``hop_gate`` raises).
    """
    response = fetcher.get(
        url,
        max_bytes=fetcher.settings.max_page_bytes,
        accept=HTML_TYPES,
        headers=headers,
        proxy=proxy,
        hop_gate=hop_gate,
    )
    if not response.body.strip():
        raise FetchRefused("empty response body", url=url)
    if b"\x00" in response.body[:1024] and not response.body.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FetchRefused("binary body served as HTML", url=url)
    if not response.content_type and not _HTML_START.search(response.body[:1024]):
        raise FetchRefused("no content type and the body does not look like HTML", url=url)
    return Page(
        url=url,
        final_url=response.final_url,
        status=response.status,
        content_type=response.content_type,
        html=decode_html(response.body, response.headers.get("content-type", "")),
        fetched_at=utc_now(),
        headers=tuple(response.headers.items()),
        body=response.body,
    )


def fetch_feed(
    fetcher: Fetcher,
    url: str,
    *,
    etag: str = "",
    last_modified: str = "",
    headers: Mapping[str, str] | None = None,
    proxy: str = "",
    hop_gate: HopGate | None = None,
) -> Response:
    """Fetch a feed with a conditional GET; a 304 comes back with an empty body.

    ``headers`` (per-feed headers and cookies from config) are sent as well; ``hop_gate``
    (e.g. ``politeness.polite_hops``) is entered around every hop.

    Raises:
        BlockedDestination, FetchRefused, TooSlow, FetchTimeout, UpstreamUnavailable: see
            Fetcher.get (and whatever ``hop_gate`` raises).
    """
    request_headers = {
        "Accept": "application/rss+xml, application/atom+xml, application/feed+json, "
        "application/xml;q=0.9, */*;q=0.5",
        **(headers or {}),
    }
    if etag:
        request_headers["If-None-Match"] = etag
    if last_modified:
        request_headers["If-Modified-Since"] = last_modified
    return fetcher.get(
        url,
        max_bytes=fetcher.settings.max_feed_bytes,
        accept=FEED_TYPES,
        headers=request_headers,
        proxy=proxy,
        hop_gate=hop_gate,
    )
