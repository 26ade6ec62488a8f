"""The flow of one feed entry: the one place where the whole pipeline is visible.

recorded outcome? -> fetch -> extract -> parse (clean + quality gate) -> publish
                                                      (claim + dedupe + XADD in one script)
"""

from __future__ import annotations

import random

import redis
from trafilatura.settings import Extractor

from pipeline.dedupe import recorded_outcome
from pipeline.errors import PipelineError, RetryableError, UpstreamUnavailable
from pipeline.extract import extract_document
from pipeline.fetch import Fetcher, fetch_page
from pipeline.models import FeedEntry, Outcome, OutcomeKind
from pipeline.parse import parse_article
from pipeline.publish import Publisher
from pipeline.settings import Settings


def process_entry(
    entry: FeedEntry,
    *,
    fetcher: Fetcher,
    client: redis.Redis,
    publisher: Publisher,
    extractor: Extractor,
    settings: Settings,
) -> Outcome:
    """Run one feed entry through fetch -> extract -> parse -> dedupe+publish.

    Raises:
        RetryableError: transient failure; the caller retries later.
        DropArticle: this entry will never produce an article; the caller records why.
    """
    prior = recorded_outcome(client, entry.url)
    if prior is not None:
        return Outcome(kind=OutcomeKind.ALREADY, url=entry.url, ref=prior)
    page = fetch_page(fetcher, entry.url)
    extraction = extract_document(page, options=extractor)
    article = parse_article(extraction, page, entry, min_words=settings.extract.min_words)
    return publisher.publish_article(article, entry)


def record_failure(
    publisher: Publisher, entry: FeedEntry, error: PipelineError | Exception, *, attempts: int
) -> Outcome:
    """Record the terminal outcome of a failed entry: dropped for a DropArticle, else dead.

    Raises:
        RedisUnavailable: the outcome could not be written (the caller must not ack).
    """
    reason = getattr(error, "reason", "") or type(error).__name__
    is_dead = isinstance(error, RetryableError) or not isinstance(error, PipelineError)
    kind = OutcomeKind.DEAD if is_dead else OutcomeKind.DROPPED
    return publisher.record_outcome(
        entry, kind, reason, f"{type(error).__name__}: {error}", attempts=attempts
    )


def retry_delay(error: RetryableError, attempt: int, *, base_s: float, max_s: float) -> float:
    """Seconds before retry ``attempt`` (0-based): exponential, jittered, honouring Retry-After."""
    delay = min(max_s, base_s * 2.0**attempt) * random.uniform(0.5, 1.0)
    if isinstance(error, UpstreamUnavailable) and error.retry_after:
        delay = max(delay, min(error.retry_after, max_s))
    return delay
