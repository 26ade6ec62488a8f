"""Builders for tests: records, articles, served pages and feeds, one in-process poll."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any

import redis

from pipeline.dedupe import url_id
from pipeline.fetch.client import Fetcher
from pipeline.fetch.politeness import HostGate
from pipeline.local.site import LocalSite, sample_site_dir
from pipeline.models import Article, ExtractorInfo, FeedEntry, Source
from pipeline.polling.poll import PollResult, poll_feed
from pipeline.settings import FeedConfig, Settings

ARTICLE = (sample_site_dir() / "articles" / "rates-hold.html").read_bytes()


def respond(
    status: int,
    body: bytes = b"",
    content_type: str = "text/html",
    headers: tuple[tuple[str, str], ...] = (),
    delay_s: float = 0.0,
) -> Any:
    """A route handler that answers with this status, body and headers (after ``delay_s``)."""

    def handler(request: BaseHTTPRequestHandler) -> None:
        if delay_s:
            time.sleep(delay_s)
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(body)

    return handler


_VOCABULARY = (  # noqa: SIM905 - a word list reads better as text
    "council harbour minister river budget station school hospital court market museum "
    "festival railway bridge airport union farmers police storm village library election "
    "research energy housing water tourism factory port museum teachers nurses drivers "
    "announced reported approved rejected opened closed delayed expanded reviewed funded "
    "on monday tuesday wednesday thursday friday after before during despite because "
    "while the a new old local national regional several many few most three seven "
    "twelve forty "
).split()


def story_text(n: int, paragraphs: int = 6, words: int = 55) -> list[str]:
    """Paragraphs of words drawn with seed ``n``: every story distinct, no near-duplicates."""
    rng = random.Random(n)
    return [
        " ".join(rng.choice(_VOCABULARY) for _ in range(words)).capitalize() + "."
        for _ in range(paragraphs)
    ]


def article_page(site: LocalSite, n: int, path: str) -> bytes:
    """A realistic article page with its own canonical URL, headline and body text."""
    page = ARTICLE.replace(b"{{BASE}}", site.base_url.encode())
    page = page.replace(b"/articles/rates-hold.html", path.encode())
    page = page.replace(b"Central bank holds", f"Story {n}: central bank holds".encode())
    start = page.index(b'<div class="article-body">')
    end = page.index(b"</div>", start)
    body = "".join(f"<p>{p}</p>" for p in story_text(n)).encode()
    return page[:start] + b'<div class="article-body">' + body + page[end:]


def serve_articles(
    site: LocalSite, count: int, *, prefix: str = "/news/", delay_s: float = 0.0
) -> list[str]:
    """Route ``count`` distinct articles on the site; returns their paths."""
    paths = [f"{prefix}{n}" for n in range(count)]
    for n, path in enumerate(paths):
        site.routes[path] = respond(200, article_page(site, n, path), delay_s=delay_s)
    return paths


def rss(site: LocalSite, paths: list[str]) -> Any:
    """A route handler serving an RSS feed that links to ``paths`` on the site."""
    items = "".join(f"<item><title>{p}</title><link>{site.url(p)}</link></item>" for p in paths)
    body = f'<rss version="2.0"><channel><title>t</title>{items}</channel></rss>'.encode()
    return respond(200, body, "application/rss+xml")


SAMPLE_EXPECTED = json.loads((sample_site_dir() / "expected.json").read_text(encoding="utf-8"))


def make_article(url: str, text: str = "Body text of the story. " * 20) -> Article:
    return Article(
        id=url_id(url),
        url=url,
        canonical_url=url,
        feed_url="https://example.com/feed",
        source=Source(name="Example", domain="example.com"),
        title="A title",
        authors=("Jane Doe",),
        published_at=datetime(2026, 11, 1, 12, tzinfo=UTC),
        language="en",
        description="",
        text=text,
        word_count=len(text.split()),
        fetched_at=datetime(2026, 11, 2, tzinfo=UTC),
        extractor=ExtractorInfo(name="trafilatura", version="2.3.1"),
    )


def entry_for(url: str) -> FeedEntry:
    return FeedEntry(url=url, feed_url="https://example.com/feed")


def poll_in_process(
    feed: FeedConfig,
    client: redis.Redis,
    settings: Settings,
    enqueue: Callable[[Sequence[FeedEntry]], None],
) -> PollResult:
    """One poll of ``feed`` in this process, with a fresh Fetcher (closed afterwards)."""
    fetcher = Fetcher(settings.fetch)
    try:
        return poll_feed(
            feed,
            fetcher=fetcher,
            client=client,
            settings=settings,
            enqueue=enqueue,
            gate=HostGate(client, settings.fetch),
        )
    finally:
        fetcher.close()
