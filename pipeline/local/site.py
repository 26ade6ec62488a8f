"""A local static web site on 127.0.0.1: the demo's sample site and the tests' fixture site.

Serves files from a folder, replacing ``{{BASE}}`` in text files with the site's base URL,
and logs every request (path, time) so tests can count what was asked.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from pathlib import Path
from urllib.parse import urlsplit

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".xml": "application/rss+xml; charset=utf-8",
    ".rss": "application/rss+xml; charset=utf-8",
    ".atom": "application/atom+xml; charset=utf-8",
    ".json": "application/feed+json; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}
Handler = Callable[[BaseHTTPRequestHandler], None]


def sample_site_dir() -> Path:
    """The folder of the bundled sample site (feeds and article pages)."""
    return Path(str(files("pipeline.local").joinpath("sample_site")))


@dataclass
class LocalSite:
    """A running local site. ``routes`` maps a path to a handler that writes the response."""

    root: Path
    host: str = "127.0.0.1"
    routes: dict[str, Handler] = field(default_factory=dict)
    requests: list[tuple[float, str]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "site not started"
        return f"http://{self.host}:{self._server.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def start(self) -> LocalSite:
        """Start serving in a daemon thread on a free port."""
        site = self

        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                site._handle(self)

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer((self.host, 0), _Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        path = urlsplit(request.path).path
        self.requests.append((time.time(), path))
        route = self.routes.get(path)
        if route is not None:
            route(request)
            return
        file = (self.root / path.lstrip("/")).resolve()
        if path.endswith("/"):
            file = file / "index.html"
        if not file.is_file() or self.root.resolve() not in file.parents:
            send_body(request, 404, b"not found", "text/plain")
            return
        body = file.read_bytes().replace(b"{{BASE}}", self.base_url.encode())
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match") == etag:
            send_body(request, 304, b"", "", etag=etag)
            return
        content_type = CONTENT_TYPES.get(file.suffix, "application/octet-stream")
        send_body(request, 200, body, content_type, etag=etag)

    def count(self, path: str) -> int:
        """How many requests this site has answered for ``path``."""
        return sum(1 for _, p in self.requests if p == path)


def send_body(
    request: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str, etag: str = ""
) -> None:
    """Answer ``request`` with this status, body, content type and optional ETag."""
    request.send_response(status)
    if content_type:
        request.send_header("Content-Type", content_type)
    if etag:
        request.send_header("ETag", etag)
    request.send_header("Content-Length", str(len(body)))
    request.end_headers()
    request.wfile.write(body)
