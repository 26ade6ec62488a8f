"""A form POST under the fetcher's SSRF policy: WebSub (un)subscription requests to hubs.

Hubs are named by the feeds we poll, so a hub URL is as untrusted as a feed's links: every
hop is checked as the fetcher checks it (http(s) only, the host resolved once, every address
public or inside ``fetch.allow``, the port in ``fetch.ports`` unless allowed) and the
connection goes to the validated address. Redirects: 307 and 308 only (the hub moved; the
Recommendation, 5.1.2), each hop checked again; ``fetch.deadline_s`` bounds the whole
request. Only a short answer is read. There is no proxy support: with ``fetch.proxy`` set
the request is refused rather than sent around the proxy.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import SplitResult, urlencode, urljoin, urlsplit

from pipeline.errors import BlockedDestination, FetchRefused, FetchTimeout, UpstreamUnavailable
from pipeline.fetch.addresses import Resolver, resolve_host, validated_address
from pipeline.fetch.deadline import Watchdog
from pipeline.settings import FetchSettings

MAX_ANSWER_BYTES = 4096
_HUB_REDIRECTS = {307, 308}


@dataclass(frozen=True, slots=True, kw_only=True)
class PostAnswer:
    """A hub's answer: its status and the start of its body (text, for the log)."""

    url: str
    status: int
    text: str


def post_form(
    url: str,
    fields: Mapping[str, str],
    *,
    settings: FetchSettings,
    resolver: Resolver = resolve_host,
) -> PostAnswer:
    """POST ``fields`` as ``application/x-www-form-urlencoded`` (UTF-8) to ``url``.

    Any status is returned (the caller judges it), but a 307/308 is followed, at most
    ``fetch.max_redirects`` times.

    Raises:
        BlockedDestination: a refused scheme, address or port (on any hop), or a proxy is
            configured.
        FetchRefused: too many redirects.
        FetchTimeout: no complete answer by ``fetch.deadline_s``.
        UpstreamUnavailable: the host does not resolve, or the connection failed.
    """
    if settings.proxy:
        raise BlockedDestination("hub requests do not go through fetch.proxy: refused", url=url)
    body = urlencode(fields).encode()
    deadline = time.monotonic() + settings.deadline_s
    allow = tuple(ipaddress.ip_network(cidr, strict=False) for cidr in settings.allow)
    current = url
    for _hop in range(settings.max_redirects + 1):
        parts, address = _target(current, url, settings, allow, resolver)
        answer, location = _post_once(parts, address, body, settings, deadline, url)
        if answer.status not in _HUB_REDIRECTS or not location:
            return answer
        current = urljoin(current, location)
    raise FetchRefused(f"more than {settings.max_redirects} redirects", url=url)


def _target(
    url: str,
    original: str,
    settings: FetchSettings,
    allow: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...],
    resolver: Resolver,
) -> tuple[SplitResult, str]:
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise BlockedDestination(f"malformed URL {url[:200]!r}: {exc}", url=original) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BlockedDestination(f"refused URL scheme or host: {url[:200]!r}", url=original)
    address = validated_address(
        parts.hostname, port, resolver=resolver, allow=allow, ports=settings.ports, url=original
    )
    return parts, address


def _post_once(
    parts: SplitResult,
    address: str,
    body: bytes,
    settings: FetchSettings,
    deadline: float,
    original: str,
) -> tuple[PostAnswer, str]:
    """One hop: (the answer, its Location header)."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise FetchTimeout("hub request deadline passed", url=original)
    watchdog = Watchdog()
    try:
        with watchdog.armed(remaining):
            exchanged = _exchange(parts, address, body, settings, watchdog, original)
        if watchdog.fired:  # an answer cut short by the watchdog looks complete
            raise FetchTimeout("hub request deadline passed", url=original)
        return exchanged
    except TimeoutError as exc:
        raise FetchTimeout(f"hub request timed out: {exc}", url=original) from exc
    except (OSError, http.client.HTTPException) as exc:
        if watchdog.fired:
            raise FetchTimeout("hub request deadline passed", url=original) from exc
        raise UpstreamUnavailable(f"hub request failed: {exc}", url=original) from exc
    finally:
        watchdog.close()


def _exchange(
    parts: SplitResult,
    address: str,
    body: bytes,
    settings: FetchSettings,
    watchdog: Watchdog,
    original: str,
) -> tuple[PostAnswer, str]:
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    sock = socket.create_connection((address, port), timeout=settings.connect_timeout_s)
    watchdog.track(sock)
    if parts.scheme == "https":
        sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        watchdog.track(sock)
    sock.settimeout(settings.read_timeout_s)
    connection = http.client.HTTPConnection(host, port, timeout=settings.read_timeout_s)
    connection.sock = sock  # connected to the validated address, not to the name
    try:
        connection.request(
            "POST",
            (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
            body=body,
            headers={
                "Host": _host_header(host, parts.port),
                "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                "User-Agent": settings.user_agent,
                "Connection": "close",
            },
        )
        response = connection.getresponse()
        text = response.read(MAX_ANSWER_BYTES).decode("utf-8", "replace")
        answer = PostAnswer(url=original, status=response.status, text=text)
        return answer, response.getheader("location") or ""
    finally:
        connection.close()


def _host_header(host: str, port: int | None) -> str:
    name = f"[{host}]" if ":" in host else host
    return name if port is None else f"{name}:{port}"
