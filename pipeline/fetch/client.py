"""HTTP fetching that is safe by default. The only module that imports the HTTP client.

Every hop is checked before a byte is sent: http(s) only, the host resolved once, every
address it resolves to must be public (or inside ``fetch.allow``), and the connection goes to
the validated address, so DNS rebinding has no window. Bodies are capped after
decompression, a monotonic deadline bounds the whole fetch (a watchdog shuts the socket down
when it passes, however slowly the server drips), and redirects are followed by hand.
"""

from __future__ import annotations

import email.utils
import ipaddress
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urljoin, urlsplit

import urllib3
import urllib3.connection
from urllib3.exceptions import HTTPError, NewConnectionError, ProtocolError, SSLError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from pipeline.errors import (
    BlockedDestination,
    FetchRefused,
    FetchTimeout,
    UpstreamUnavailable,
)
from pipeline.fetch.addresses import Resolver, resolve_host, validated_address
from pipeline.fetch.charset import decode_html
from pipeline.fetch.deadline import Watchdog
from pipeline.models import Page, utc_now
from pipeline.settings import FetchSettings

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
)
_CHUNK = 64 * 1024
_HTML_START = re.compile(rb"<(!doctype html|html|head|body|meta|title|p|div)[\s>/]", re.I)
_MAX_RETRY_AFTER_S = 86_400.0
_REDIRECTS = {301, 302, 303, 307, 308}


@dataclass(frozen=True, slots=True, kw_only=True)
class Response:
    """A complete HTTP response with its body capped and decoded from transfer encodings."""

    url: str
    final_url: str
    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


class _WatchedHTTPConnection(urllib3.connection.HTTPConnection):
    """A connection that hands its socket to the fetcher's watchdog (set per fetcher)."""

    watchdog: Watchdog

    def connect(self) -> None:
        super().connect()
        if self.sock is not None:
            self.watchdog.track(self.sock)


class _WatchedHTTPSConnection(_WatchedHTTPConnection, urllib3.connection.HTTPSConnection):
    """The TLS variant (the MRO puts HTTPSConnection.connect under the tracking)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class _Request:
    """One logical GET (all its redirect hops)."""

    original: str
    max_bytes: int
    accept: tuple[str, ...]
    headers: dict[str, str]
    deadline: float
    proxy: str


def _watched_pool_classes(watchdog: Watchdog) -> dict[str, type[urllib3.HTTPConnectionPool]]:
    """Pool classes whose connections report their sockets to ``watchdog``."""
    http = type("Conn", (_WatchedHTTPConnection,), {"watchdog": watchdog})
    https = type("TLSConn", (_WatchedHTTPSConnection,), {"watchdog": watchdog})
    return {
        "http": type("Pool", (urllib3.HTTPConnectionPool,), {"ConnectionCls": http}),
        "https": type("TLSPool", (urllib3.HTTPSConnectionPool,), {"ConnectionCls": https}),
    }


class Fetcher:
    """An HTTP client with the SSRF guard, caps and deadline. One per process; not thread-safe."""

    def __init__(self, settings: FetchSettings, *, resolver: Resolver = resolve_host) -> None:
        self.settings = settings
        self._resolver = resolver
        self._allow = tuple(ipaddress.ip_network(c, strict=False) for c in settings.allow)
        self._pools: dict[tuple[str, str, int, str], urllib3.HTTPConnectionPool] = {}
        self._proxies: dict[str, urllib3.ProxyManager] = {}
        self._watchdog = Watchdog()
        self._pool_classes = _watched_pool_classes(self._watchdog)

    def close(self) -> None:
        """Close every pooled connection and stop the deadline thread."""
        self._watchdog.close()
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        for manager in self._proxies.values():
            manager.clear()
        self._proxies.clear()

    def get(
        self,
        url: str,
        *,
        max_bytes: int,
        accept: tuple[str, ...],
        headers: Mapping[str, str] | None = None,
        proxy: str = "",
    ) -> Response:
        """GET ``url`` following at most ``max_redirects`` redirects, each hop re-validated.

        ``proxy`` (else ``settings.proxy``) sends the request through an HTTP(S) proxy; the
        destination is still resolved and checked here first.

        Raises:
            BlockedDestination: a refused scheme, port or address (on any hop).
            FetchRefused: 4xx, a content type outside ``accept``, a body over ``max_bytes``,
                or too many redirects.
            FetchTimeout: the deadline passed before the body was complete.
            UpstreamUnavailable: connection failure, TLS failure, 5xx or 429.
        """
        request = _Request(
            original=url,
            max_bytes=max_bytes,
            accept=accept,
            headers=dict(headers or {}),
            deadline=time.monotonic() + self.settings.deadline_s,
            proxy=proxy or self.settings.proxy,
        )
        with self._watchdog.armed(self.settings.deadline_s):
            try:
                response = self._follow(request)
            except UpstreamUnavailable as exc:
                if self._watchdog.fired:  # the watchdog cut the connection
                    raise FetchTimeout("fetch deadline passed", url=url) from exc
                raise
            if self._watchdog.fired:  # a read-to-close body cut short looks complete
                raise FetchTimeout("fetch deadline passed", url=url)
            return response

    def _follow(self, request: _Request) -> Response:
        current = request.original
        for _hop in range(self.settings.max_redirects + 1):
            response = self._get_once(request, current)
            location = response.headers.get("location")
            if response.status not in _REDIRECTS or not location:
                return response
            current = _redirect_target(current, location, request.original)
        raise FetchRefused(
            f"more than {self.settings.max_redirects} redirects", url=request.original
        )

    def _get_once(self, request: _Request, url: str) -> Response:
        original = request.original
        parts, host, port = _split_target(url, original)
        address = validated_address(
            host,
            port,
            resolver=self._resolver,
            allow=self._allow,
            ports=self.settings.ports,
            url=original,
        )
        headers = {
            "User-Agent": self.settings.user_agent,
            "Accept-Encoding": "gzip, deflate",
            **request.headers,
        }
        remaining = self._remaining(request.deadline, original)
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
            if request.proxy:
                raw = self._proxy(request.proxy).urlopen("GET", url, **options)
            else:
                headers["Host"] = host if parts.port is None else f"{host}:{parts.port}"
                path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
                raw = self._pool(parts.scheme, address, port, host).urlopen("GET", path, **options)
        except NewConnectionError as exc:  # refused or unreachable (a ConnectTimeoutError subclass)
            raise UpstreamUnavailable(f"connection failed: {exc}", url=original) from exc
        except Urllib3Timeout as exc:
            raise FetchTimeout(f"timed out connecting: {exc}", url=original) from exc
        except (SSLError, ProtocolError, HTTPError, OSError) as exc:
            raise UpstreamUnavailable(f"connection failed: {exc}", url=original) from exc
        return self._read_response(raw, request, url)

    def _read_response(
        self, raw: urllib3.BaseHTTPResponse, request: _Request, url: str
    ) -> Response:
        original, max_bytes, accept = request.original, request.max_bytes, request.accept
        deadline = request.deadline
        headers = {k.lower(): v for k, v in raw.headers.items()}
        try:
            _check_status(raw.status, headers, original)
            if raw.status in _REDIRECTS or raw.status == 304:
                return Response(
                    url=original, final_url=url, status=raw.status, headers=headers, body=b""
                )
            _check_type(headers, accept, original)
            _check_length(headers, max_bytes, original)
            body = _read_capped(raw, max_bytes, deadline, original, self.settings.read_timeout_s)
        except BaseException:
            raw.close()
            raw.release_conn()
            raise
        raw.release_conn()
        return Response(url=original, final_url=url, status=raw.status, headers=headers, body=body)

    def _pool(self, scheme: str, address: str, port: int, host: str) -> urllib3.HTTPConnectionPool:
        key = (scheme, address, port, host)
        pool = self._pools.get(key)
        if pool is None:
            if len(self._pools) >= 256:
                self.close()
            if scheme == "https":
                pool = self._pool_classes["https"](
                    address,
                    port,
                    maxsize=2,
                    server_hostname=host,
                    assert_hostname=host,
                    cert_reqs="CERT_REQUIRED",
                )
            else:
                pool = self._pool_classes["http"](address, port, maxsize=2)
            self._pools[key] = pool
        return pool

    def _proxy(self, proxy_url: str) -> urllib3.ProxyManager:
        manager = self._proxies.get(proxy_url)
        if manager is None:
            manager = urllib3.ProxyManager(
                proxy_url,
                num_pools=32,
                maxsize=2,
                cert_reqs="CERT_REQUIRED",
            )
            manager.pool_classes_by_scheme = self._pool_classes
            self._proxies[proxy_url] = manager
        return manager

    @staticmethod
    def _remaining(deadline: float, url: str) -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchTimeout("fetch deadline passed", url=url)
        return remaining


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
        raise FetchRefused(f"HTTP {status}", url=url)


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
    fetcher: Fetcher, url: str, *, headers: Mapping[str, str] | None = None, proxy: str = ""
) -> Page:
    """Fetch one HTML page, decoded to text.

    Raises:
        BlockedDestination, FetchRefused, FetchTimeout, UpstreamUnavailable: see Fetcher.get.
    """
    response = fetcher.get(
        url,
        max_bytes=fetcher.settings.max_page_bytes,
        accept=HTML_TYPES,
        headers=headers,
        proxy=proxy,
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
    )


def fetch_feed(
    fetcher: Fetcher,
    url: str,
    *,
    etag: str = "",
    last_modified: str = "",
    headers: Mapping[str, str] | None = None,
    proxy: str = "",
) -> Response:
    """Fetch a feed with a conditional GET; a 304 comes back with an empty body.

    ``headers`` (per-feed headers and cookies from config) are sent as well.

    Raises:
        BlockedDestination, FetchRefused, FetchTimeout, UpstreamUnavailable: see Fetcher.get.
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
    )
