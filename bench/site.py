"""The replay site of ``newsflow bench pipeline``, run as its own process.

``python -m bench.site CORPUS ARTICLES FEEDS`` serves, on 127.0.0.1 (HTTP/1.1,
keep-alive), article ``i`` at ``/news/<i>`` (see :mod:`bench.corpus`) and ``FEEDS``
RSS feeds listing them round robin, and prints its port. Feeds are empty until
``POST /_bench/start?rate=R``: then every article is released at once (``R = 0``) or ``R``
per second; a feed lists its latest released articles (all, or a few seconds' worth at a
fixed rate, as real feeds do), with an ETag.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from bench.corpus import CorpusPage, load_corpus, page_html, rss
from pipeline.local.site import send_body

MAX_ITEMS = 400
"""Most items per feed document (below the poller's ``max_entries_per_poll``)."""
WINDOW_S = 3.0
"""At a fixed rate, a feed lists about this many seconds of articles (at least 10)."""
ROBOTS = b"User-agent: *\nAllow: /\n"
PREBUILT_MAX = 3000
"""Articles built before serving (~175 KB each in memory); later ones are built on request."""


@dataclass
class Release:
    """When the articles become visible in the feeds."""

    articles: int
    started: float | None = None
    rate: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, rate: float) -> None:
        with self.lock:
            self.started, self.rate = time.time(), rate

    def window(self, feeds: int) -> int:
        """Items per feed document: all of them at once, else a few seconds' worth."""
        if self.rate <= 0:
            return MAX_ITEMS
        return min(MAX_ITEMS, max(10, math.ceil(WINDOW_S * self.rate / feeds)))

    def released(self, now: float) -> int:
        """How many articles (the first ones) are visible at ``now``."""
        if self.started is None:
            return 0
        if self.rate <= 0:
            return self.articles
        return min(self.articles, math.floor((now - self.started) * self.rate) + 1)


def feed_items(release: Release, feed: int, feeds: int, now: float) -> list[int]:
    """The article indexes feed ``feed`` lists at ``now``: its latest released ones."""
    released = release.released(now)
    if released <= feed:
        return []
    last = feed + ((released - 1 - feed) // feeds) * feeds
    first = max(feed, last - (release.window(feeds) - 1) * feeds)
    return list(range(first, last + 1, feeds))


class _Handler(BaseHTTPRequestHandler):
    """Serves articles, feeds and robots.txt; :func:`make_handler` binds the data."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # as web servers do: no 40 ms delayed-ACK stalls
    pages: tuple[CorpusPage, ...] = ()
    bodies: tuple[bytes, ...] = ()
    release = Release(articles=0)
    feeds = 1

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = urlsplit(self.path).path
        if path.startswith("/news/"):
            self._article(int(path.rsplit("/", 1)[1]))
        elif path.startswith("/feeds/"):
            self._feed(int(path.rsplit("/", 1)[1].split(".")[0]))
        elif path == "/robots.txt":
            self._send(200, ROBOTS, "text/plain")
        else:
            self._send(404, b"not found", "text/plain")

    def do_POST(self) -> None:  # noqa: N802
        query = parse_qs(urlsplit(self.path).query)
        self.release.start(float(query.get("rate", ["0"])[0]))
        self._send(200, b"started", "text/plain")

    def _article(self, index: int) -> None:
        if index >= self.release.articles:
            self._send(404, b"not found", "text/plain")
            return
        body = self.bodies[index] if index < len(self.bodies) else page_html(self.pages, index)
        self._send(200, body, "text/html; charset=utf-8")

    def _feed(self, feed: int) -> None:
        items = feed_items(self.release, feed, self.feeds, time.time())
        etag = f'"{feed}-{items[-1] if items else -1}"'
        if self.headers.get("If-None-Match") == etag:
            self._send(304, b"", "", etag)
            return
        base = f"http://{self.headers.get('Host', '127.0.0.1')}"
        self._send(200, rss(base, feed, items), "application/rss+xml; charset=utf-8", etag)

    def _send(self, status: int, body: bytes, content_type: str, etag: str = "") -> None:
        send_body(self, status, body, content_type, etag)

    def log_message(self, format: str, *args: object) -> None:
        return


def make_handler(
    pages: tuple[CorpusPage, ...], release: Release, feeds: int
) -> type[BaseHTTPRequestHandler]:
    """The request handler class serving these pages with this release schedule.

    Up to ``PREBUILT_MAX`` articles are built before serving, so that the site answers like a
    web server sending stored pages; beyond that, pages are built per request (~1 ms each).
    """
    count = min(release.articles, PREBUILT_MAX)
    bodies = tuple(page_html(pages, i) for i in range(count))
    attributes = {"pages": pages, "bodies": bodies, "release": release, "feeds": feeds}
    return type("Handler", (_Handler,), attributes)


def serve(corpus: Path, articles: int, feeds: int) -> None:
    """Serve until killed; print the port on stdout once listening."""
    pages = load_corpus(corpus)
    release = Release(articles=articles)
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(pages, release, feeds))
    server.daemon_threads = True
    sys.stdout.write(f"{server.server_address[1]}\n")
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    serve(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
