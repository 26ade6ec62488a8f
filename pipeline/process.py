"""The flow of one feed entry: the one place where the whole pipeline is visible.

recorded outcome? -> robots + host slot -> fetch -> extract -> parse (clean + quality
gate) -> publish (claim + dedupe + XADD in one script)
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import redis

from pipeline.article.assemble import parse_article
from pipeline.article.extract import ExtractOptions, build_extractor, extract_document
from pipeline.errors import PipelineError
from pipeline.fetch.client import Fetcher
from pipeline.fetch.politeness import HostGate, RobotsCache, fetch_page_politely, host_of
from pipeline.models import FeedEntry, Outcome, OutcomeKind, Page
from pipeline.polling.registry import FeedLookup
from pipeline.publish import Publisher, recorded_outcome
from pipeline.settings import Settings


class Hooks:
    """Observation points of the flow (metrics); the default does nothing."""

    def stage(self, name: str, seconds: float, cpu_seconds: float) -> None:
        """A stage (fetch, extract, parse, publish) finished in ``seconds`` of wall time, of
        which ``cpu_seconds`` of this process's CPU (the rest is waiting: I/O, other work)."""

    def fetched(self, host: str, status: str) -> None:
        """A page fetch ended with an HTTP status or an error reason."""


@dataclass(frozen=True, slots=True)
class Services:
    """The clients one process uses to run entries, built once (after fork) and passed in."""

    settings: Settings
    fetcher: Fetcher
    client: redis.Redis
    publisher: Publisher
    extractor: ExtractOptions
    gate: HostGate
    robots: RobotsCache | None
    feeds: FeedLookup
    hooks: Hooks = field(default_factory=Hooks)

    @classmethod
    def build(cls, settings: Settings, client: redis.Redis, hooks: Hooks | None = None) -> Services:
        """Services for ``settings`` around an already connected Redis client."""
        fetcher = Fetcher(settings.fetch)
        gate = HostGate(client, settings.fetch)
        robots = RobotsCache(client, fetcher, gate) if settings.fetch.robots else None
        return cls(
            settings=settings,
            fetcher=fetcher,
            client=client,
            publisher=Publisher(client, settings),
            extractor=build_extractor(settings.extract),
            gate=gate,
            robots=robots,
            feeds=FeedLookup(client),
            hooks=hooks or Hooks(),
        )

    def close(self) -> None:
        """Close the HTTP and Redis connections."""
        self.fetcher.close()
        self.client.close()


def process_entry(entry: FeedEntry, services: Services) -> Outcome:
    """Run one feed entry through fetch -> extract -> parse -> dedupe+publish.

    Raises:
        RetryableError: transient failure; the caller retries later.
        DropArticle: this entry will never produce an article; the caller records why.
    """
    if not entry.update:
        prior = recorded_outcome(services.client, entry.url)
        if prior is not None:
            return Outcome(kind=OutcomeKind.ALREADY, url=entry.url, ref=prior)
    hooks = services.hooks
    with _timed(hooks, "fetch"):
        page = _fetch(entry, services)
    with _timed(hooks, "extract"):
        extraction = extract_document(page, options=services.extractor)
    with _timed(hooks, "parse"):
        limits = services.settings.extract
        article = parse_article(
            extraction,
            page,
            entry,
            min_words=limits.min_words,
            words_per_minute=limits.words_per_minute,
        )
    with _timed(hooks, "publish"):
        if entry.update:
            return services.publisher.publish_update(article, entry)
        return services.publisher.publish_article(article, entry)


def _fetch(entry: FeedEntry, services: Services) -> Page:
    feed = services.feeds.get(entry.feed_url) if entry.feed_url else None
    host = host_of(entry.url)
    try:
        page = fetch_page_politely(
            entry.url,
            fetcher=services.fetcher,
            gate=services.gate,
            robots=services.robots,
            headers=feed.headers if feed else None,
            proxy=feed.proxy if feed else "",
        )
    except PipelineError as exc:
        status = getattr(exc, "status", None)
        services.hooks.fetched(host, str(status) if status else exc.reason)
        raise
    services.hooks.fetched(host, str(page.status))
    return page


@contextlib.contextmanager
def _timed(hooks: Hooks, stage: str) -> Iterator[None]:
    started, cpu = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        hooks.stage(stage, time.perf_counter() - started, time.process_time() - cpu)
