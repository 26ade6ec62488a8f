"""Celery tasks: thin wrappers that map pipeline errors to retry or a recorded outcome."""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded

from pipeline.errors import DropArticle, HostThrottled, RetryableError, TaskTimeLimit
from pipeline.models import FeedEntry
from pipeline.process import plan_retry, process_entry, record_failure
from workers import metrics, resources
from workers.app import app

log = logging.getLogger(__name__)


@app.task(
    bind=True,
    name="newsflow.process_entry",
    max_retries=resources.settings().worker.max_retries,
    # Delay before re-running a task whose process died (retry_on_worker_lost).
    default_retry_delay=min(10, resources.settings().worker.retry_backoff_max_s),
)
def process_entry_task(self: Task, message: dict[str, Any]) -> str:
    """Fetch, extract, dedupe and publish one feed entry; record exactly one outcome."""
    services = resources.get()
    entry = FeedEntry.from_message(message)
    throttled = int(message.get("throttled", 0))
    attempts = self.request.retries - throttled + 1
    try:
        outcome = process_entry(entry, services)
    except RetryableError as exc:
        delay = plan_retry(
            exc, retries=self.request.retries, throttled=throttled, settings=services.settings
        )
        if delay is not None:
            again = {**message, "throttled": throttled + isinstance(exc, HostThrottled)}
            raise self.retry(
                args=[again], exc=exc, countdown=delay, max_retries=self.request.retries + 1
            ) from exc
        outcome = record_failure(services.publisher, entry, exc, attempts=attempts)
    except SoftTimeLimitExceeded:
        timeout = TaskTimeLimit("task soft time limit exceeded", url=entry.url)
        outcome = record_failure(services.publisher, entry, timeout, attempts=attempts)
    except DropArticle as exc:
        outcome = record_failure(services.publisher, entry, exc, attempts=attempts)
    except Exception as exc:  # a bug: dead-letter it with the error rather than loop or lose it
        log.exception("unexpected error for %s", entry.url)
        outcome = record_failure(services.publisher, entry, exc, attempts=attempts)
    log.info("outcome=%s attempts=%d", outcome, attempts)
    metrics.record_outcome(outcome.kind, outcome.reason, entry.enqueued_at, time.time())
    return str(outcome.kind)
