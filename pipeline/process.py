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

from pipeline.archive.store import Store
from pipeline.archive.warc import Produced
from pipeline.archive.writer import ArchiveWriter
from pipeline.article.assemble import parse_article
from pipeline.article.extract import ExtractOptions, build_extractor, extract_document
from pipeline.errors import DropArticle, PipelineError
from pipeline.fetch.client import Fetcher
from pipeline.fetch.politeness import HostGate, RobotsCache, fetch_page_politely, host_of
from pipeline.models import Article, FeedEntry, Outcome, OutcomeKind, Page
from pipeline.ops.drift import DriftMonitor, observation
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

    def archived(self, nbytes: int, new_files: int) -> None:
        """``nbytes`` (compressed) went to the raw page archive, in ``new_files`` new files."""

    def archive_failed(self) -> None:
        """A page (or an archive file) could not be archived; the article went on."""


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
    archive: ArchiveWriter | None = None
    drift: DriftMonitor | None = None

    @classmethod
    def build(cls, settings: Settings, client: redis.Redis, hooks: Hooks | None = None) -> Services:
        """Services for ``settings`` around an already connected Redis client."""
        fetcher = Fetcher(settings.fetch)
        gate = HostGate(client, settings.fetch)
        robots = RobotsCache(client, fetcher, gate) if settings.fetch.robots else None
        hooks = hooks or Hooks()
        archive = None
        if settings.archive.enabled:
            store = Store.of(settings.archive, settings.data_dir)
            archive = ArchiveWriter(store, settings.archive, hooks)
        return cls(
            settings=settings,
            fetcher=fetcher,
            client=client,
            publisher=Publisher(client, settings),
            extractor=build_extractor(settings.extract),
            gate=gate,
            robots=robots,
            feeds=FeedLookup(client),
            hooks=hooks,
            archive=archive,
            drift=DriftMonitor(client, settings.drift) if settings.drift.enabled else None,
        )

    def close(self) -> None:
        """Finish the archive file; close the HTTP and Redis connections."""
        if self.archive is not None:
            self.archive.close()
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
    try:
        article = extract_article(page, entry, services)
        with _timed(hooks, "publish"):
            if entry.update:
                outcome = services.publisher.publish_update(article, entry)
            else:
                outcome = services.publisher.publish_article(article, entry)
    except DropArticle as exc:
        _note(services, page, entry, Produced(outcome="dropped", reason=exc.reason), None)
        raise
    _note(services, page, entry, produced_by(article, outcome), article)
    return outcome


def extract_article(page: Page, entry: FeedEntry, services: Services) -> Article:
    """Extract and parse (clean + quality gate) a fetched page into an article.

    Raises:
        DropArticle: the page holds no article (or the extractor gave up on it).
    """
    hooks = services.hooks
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
    return article


def produced_by(article: Article, outcome: Outcome) -> Produced:
    """What the archive notes of a page that gave ``article`` with ``outcome``."""
    published = outcome.kind in (OutcomeKind.PUBLISHED, OutcomeKind.UPDATED)
    return Produced(
        outcome=outcome.kind.value,
        article_id=article.id,
        version="1" if outcome.kind is OutcomeKind.PUBLISHED else "",
        stream_id=outcome.ref if published else "",
        word_count=article.word_count,
    )


def _note(
    services: Services, page: Page, entry: FeedEntry, produced: Produced, article: Article | None
) -> None:
    """Keep a page that reached extraction in the archive, and count it in its source's
    drift figures; neither ever raises (failures are logged; archive failures counted)."""
    if services.archive is not None:
        services.archive.write(page, entry, produced)
    if services.drift is not None:
        services.drift.observe(page.final_url or page.url, observation(article, produced.reason))


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
