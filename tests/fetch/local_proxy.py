"""Test doubles for proxied fetching, all on loopback: a tiny threaded HTTP proxy (CONNECT
tunnels and absolute-form forwarding), a TLS site, and a throwaway CA made with ``openssl``.

The proxy resolves host names with its own table (``names``), as a real proxy would ask its
own resolver: a name that the fetcher validated as one address can lead the proxy anywhere
else (DNS rebinding). It refuses to connect outside loopback.
"""

from __future__ import annotations

import contextlib
import ipaddress
import select
import shutil
import socket
import socketserver
import ssl
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

_MAX_LINE = 65_536


@dataclass
class LocalProxy:
    """A running proxy on 127.0.0.1 (``tls``: an https:// proxy)."""

    names: dict[str, str] = field(default_factory=dict)
    tls: ssl.SSLContext | None = None
    seen: list[str] = field(default_factory=list)
    """Request lines, in order (``CONNECT 127.0.0.2:8080 HTTP/1.0``, ``GET http://...``)."""
    auth: list[str] = field(default_factory=list)
    """Proxy-Authorization values received."""
    _server: socketserver.ThreadingTCPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "proxy not started"
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> LocalProxy:
        proxy = self

        class _Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                proxy._handle(self.request)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _handle(self, raw: socket.socket) -> None:
        raw.settimeout(10)
        try:
            client = self.tls.wrap_socket(raw, server_side=True) if self.tls else raw
        except (OSError, ssl.SSLError):
            return
        with contextlib.closing(client):
            head = _read_head(client)
            if not head:
                return
            line, headers = head[0], head[1:]
            self.seen.append(line)
            self.auth += [v for k, v in headers if k.lower() == "proxy-authorization"]
            method, target, _ = (line.split(" ", 2) + ["", ""])[:3]
            if method == "CONNECT":
                host, _, port = target.rpartition(":")
                upstream = self._open(client, host.strip("[]"), port)
                if upstream is not None:
                    client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    _pipe(client, upstream)
                return
            parts = urlsplit(target)  # absolute-form: forward, resolving the name here
            upstream = self._open(client, parts.hostname or "", str(parts.port or 80))
            if upstream is None:
                return
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            kept = [(k, v) for k, v in headers if not k.lower().startswith(("proxy-", "conn"))]
            request = f"{method} {path} HTTP/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in kept)
            upstream.sendall(request.encode("latin-1") + b"Connection: close\r\n\r\n")
            _pipe(client, upstream)

    def _open(self, client: socket.socket, host: str, port: str) -> socket.socket | None:
        address = self.names.get(host.lower(), host)
        try:
            if not ipaddress.ip_address(address).is_loopback:
                client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return None
            return socket.create_connection((address, int(port)), timeout=10)
        except (ValueError, OSError):
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return None


def _read_head(sock: socket.socket) -> list[Any]:
    """The request line and headers, read byte by byte (nothing of the body is consumed)."""
    data = b""
    while not data.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)
        if not byte or len(data) > _MAX_LINE:
            return []
        data += byte
    lines = data.decode("latin-1").split("\r\n")[:-2]
    headers = [tuple(part.strip() for part in h.split(":", 1)) for h in lines[1:] if ":" in h]
    return [lines[0], *headers]


def _pipe(a: socket.socket, b: socket.socket) -> None:
    """Relay bytes both ways until either side closes (TLS-aware: pending records first)."""
    with contextlib.closing(b):
        while True:
            ready: list[socket.socket] = [
                s for s in (a, b) if isinstance(s, ssl.SSLSocket) and s.pending()
            ]
            if not ready:
                ready, _, _ = select.select([a, b], [], [], 10)
                if not ready:
                    return
            for sock in ready:
                try:
                    data = sock.recv(65_536)
                except OSError:
                    return
                if not data:
                    return
                (b if sock is a else a).sendall(data)


# --- TLS -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ThrowawayCA:
    """A throwaway CA and leaf certificates signed by it (PEM files)."""

    ca: Path
    folder: Path

    def leaf(self, name: str, *, san: str) -> tuple[Path, Path]:
        """(certificate, key) for ``san`` (e.g. ``DNS:news.test`` or ``IP:127.0.0.1``)."""
        cert, key = self.folder / f"{name}.pem", self.folder / f"{name}.key"
        if not cert.exists():
            csr, ext = self.folder / f"{name}.csr", self.folder / f"{name}.ext"
            ext.write_text(
                f"subjectAltName={san}\nbasicConstraints=CA:FALSE\n"
                "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
            )
            _openssl("req", "-new", *_EC, "-keyout", key, "-out", csr, "-subj", f"/CN={name}")
            _openssl(
                "x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.folder / "ca.key",
                "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext,
            )  # fmt: skip
        return cert, key

    def server_context(self, name: str, *, san: str) -> ssl.SSLContext:
        cert, key = self.leaf(name, san=san)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        return context


_EC = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


def _openssl(*args: object) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=30)


def make_ca(folder: Path) -> ThrowawayCA | None:
    """A new CA in ``folder``, or None when no ``openssl`` command is installed."""
    if shutil.which("openssl") is None:
        return None
    ca, key = folder / "ca.pem", folder / "ca.key"
    _openssl(
        "req", "-x509", *_EC, "-keyout", key, "-out", ca, "-days", "2",
        "-subj", "/CN=newsflow test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    return ThrowawayCA(ca=ca, folder=folder)


@dataclass
class TLSSite:
    """An HTTPS site: answers every GET with ``body`` (or ``handler``), recording (path, Host)
    and the SNI."""

    host: str
    context: ssl.SSLContext
    body: bytes
    handler: Callable[[BaseHTTPRequestHandler], None] | None = None
    requests: list[tuple[str, str]] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    def start(self) -> TLSSite:
        site = self
        self.context.sni_callback = self._sni

        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                site.requests.append((self.path, self.headers.get("Host", "")))
                if site.handler is not None:
                    site.handler(self)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(site.body)))
                self.end_headers()
                self.wfile.write(site.body)

            def log_message(self, format: str, *args: object) -> None:
                return

        class _Server(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self) -> tuple[Any, Any]:
                sock, address = self.socket.accept()
                wrapped = site.context.wrap_socket(
                    sock, server_side=True, do_handshake_on_connect=False
                )
                return wrapped, address

            def handle_error(self, request: Any, client_address: Any) -> None:
                return  # failed handshakes (the certificate tests) are expected

        self._server = _Server((self.host, 0), _Handler)
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _sni(self, sock: Any, name: str | None, context: ssl.SSLContext) -> None:
        self.server_names.append(name)
