"""The feed site of ``newsflow bench poll``, run as its own process.

``python -m bench.poll_site NEW_PER_FEED`` serves, on 127.0.0.1 (HTTP/1.1,
keep-alive), RSS feeds at ``/f/<i>.xml`` and prints its port. Feed ``i`` is one of
three kinds (:func:`feed_kind`): *unchanged* (the same document and ETag for ever, so a
conditional poll gets a 304), *new* (``NEW_PER_FEED`` new entries each round) or *error*
(a 500). ``POST /_bench/round`` starts the next round. Every answer is built once per round
and kept, so that the site costs little CPU next to the pollers it serves.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from urllib.parse import urlsplit

from pipeline.local.site import send_body

FeedKind = Literal["unchanged", "new", "error"]
UNCHANGED_ITEMS = 10
"""Items of an unchanged feed's document."""


def feed_kind(feed: int) -> FeedKind:
    """One feed in ten gives new entries, one in twenty fails, the rest never change."""
    if feed % 10 == 1:
        return "new"
    if feed % 20 == 2:
        return "error"
    return "unchanged"


def feed_path(feed: int) -> str:
    return f"/f/{feed}.xml"


def feed_document(base: str, feed: int, items: range) -> bytes:
    """An RSS 2.0 document listing these items (entry ``j`` links ``/a/<feed>/<j>``)."""
    body = "".join(
        f"<item><title>Feed {feed} entry {j}</title>"
        f"<link>{base}/a/{feed}/{j}</link><guid>{base}/a/{feed}/{j}</guid>"
        f"<pubDate>Mon, 30 Nov 2026 12:{j % 60:02d}:00 GMT</pubDate></item>"
        for j in reversed(items)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Bench feed {feed}</title><link>{base}/</link>"
        f"<description>newsflow bench poll</description>{body}</channel></rss>"
    ).encode()


class Rounds:
    """The current round, and each feed's answer for it (built on first request)."""

    def __init__(self, new_per_feed: int) -> None:
        self.new_per_feed = new_per_feed
        self.round = 0
        self._cache: dict[int, tuple[bytes, str]] = {}
        self._lock = threading.Lock()

    def advance(self) -> None:
        with self._lock:
            self.round += 1
            self._cache = {i: v for i, v in self._cache.items() if feed_kind(i) != "new"}

    def document(self, base: str, feed: int) -> tuple[bytes, str]:
        cached = self._cache.get(feed)
        if cached is None:
            cached = self._build(base, feed)
            self._cache[feed] = cached
        return cached

    def _build(self, base: str, feed: int) -> tuple[bytes, str]:
        if feed_kind(feed) == "unchanged":
            return feed_document(base, feed, range(UNCHANGED_ITEMS)), f'"{feed}-0"'
        per = self.new_per_feed
        last = (self.round + 1) * per  # round r lists entries up to (r + 1) * M
        items = range(max(0, last - max(2 * per, UNCHANGED_ITEMS)), last)
        return feed_document(base, feed, items), f'"{feed}-{self.round}"'


def make_handler(rounds: Rounds) -> type[BaseHTTPRequestHandler]:
    """The request handler class serving these rounds' feeds."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            path = urlsplit(self.path).path
            if not path.startswith("/f/"):
                send_body(self, 404, b"not found", "text/plain")
                return
            feed = int(path[3:].split(".")[0])
            if feed_kind(feed) == "error":
                send_body(self, 500, b"bench error", "text/plain")
                return
            base = f"http://{self.headers.get('Host', '127.0.0.1')}"
            body, etag = rounds.document(base, feed)
            if self.headers.get("If-None-Match") == etag:
                send_body(self, 304, b"", "", etag)
            else:
                send_body(self, 200, body, "application/rss+xml; charset=utf-8", etag)

        def do_POST(self) -> None:  # noqa: N802
            rounds.advance()
            send_body(self, 200, str(rounds.round).encode(), "text/plain")

        log_message: Callable[..., None] = lambda *args: None  # noqa: E731

    return Handler


def serve(new_per_feed: int) -> None:
    """Serve until killed; print the port on stdout once listening."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(Rounds(new_per_feed)))
    server.daemon_threads = True
    sys.stdout.write(f"{server.server_address[1]}\n")
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
