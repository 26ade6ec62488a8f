"""Celery tasks: thin wrappers that map pipeline errors to retry or a recorded outcome."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded

from pipeline.errors import DropArticle, ExtractionFailed, RetryableError
from pipeline.models import FeedEntry
from pipeline.process import process_entry, record_failure, retry_delay
from workers import resources
from workers.app import app

log = logging.getLogger(__name__)


@app.task(
    bind=True, name="newsflow.process_entry", max_retries=resources.settings().worker.max_retries
)
def process_entry_task(self: Task, message: dict[str, Any]) -> str:
    """Fetch, extract, dedupe and publish one feed entry; record exactly one outcome."""
    res = resources.get()
    entry = FeedEntry.from_message(message)
    attempts = self.request.retries + 1
    try:
        outcome = process_entry(
            entry,
            fetcher=res.fetcher,
            client=res.redis,
            publisher=res.publisher,
            extractor=res.extractor,
            settings=res.settings,
        )
    except RetryableError as exc:
        if self.request.retries < res.settings.worker.max_retries:
            delay = retry_delay(
                exc, self.request.retries, base_s=2.0, max_s=res.settings.worker.retry_backoff_max_s
            )
            raise self.retry(exc=exc, countdown=delay) from exc
        outcome = record_failure(res.publisher, entry, exc, attempts=attempts)
    except SoftTimeLimitExceeded as exc:
        timeout = ExtractionFailed("task time limit exceeded", url=entry.url)
        outcome = record_failure(res.publisher, entry, timeout, attempts=attempts)
        log.debug("soft time limit: %s", exc)
    except DropArticle as exc:
        outcome = record_failure(res.publisher, entry, exc, attempts=attempts)
    except Exception as exc:  # a bug: dead-letter it with the error rather than loop or lose it
        log.exception("unexpected error for %s", entry.url)
        outcome = record_failure(res.publisher, entry, exc, attempts=attempts)
    log.info("outcome=%s attempts=%d", outcome, attempts)
    return str(outcome.kind)
