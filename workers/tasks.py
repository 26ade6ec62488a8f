"""Celery tasks: thin wrappers that map pipeline errors to retry or a recorded outcome.

``newsflow.process_entries`` runs the new entries of one poll (up to
``poller.entries_per_task``) one after the other: one broker message and one dispatch for
several articles (docs/performance.md). ``newsflow.process_entry`` runs a single entry: a
retry, an entry split off a batch, or an entry sent alone. Either way each entry ends in
exactly one recorded outcome, or in a single-entry retry task of its own.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded

from pipeline.errors import DropArticle, HostThrottled, RetryableError, TaskTimeLimit
from pipeline.models import FeedEntry, Outcome
from pipeline.process import Services, plan_retry, process_entry, record_failure
from workers import metrics, resources
from workers.app import ENTRIES_TASK, ENTRY_TASK, app, entry_task

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Retry:
    """An entry to run again alone, after ``delay`` seconds."""

    message: dict[str, Any]
    error: RetryableError
    delay: float


@app.task(
    bind=True,
    name=ENTRY_TASK,
    max_retries=resources.settings().worker.max_retries,
    # Delay before re-running a task whose process died (retry_on_worker_lost).
    default_retry_delay=min(10, resources.settings().worker.retry_backoff_max_s),
)
def process_entry_task(self: Task, message: dict[str, Any]) -> str:
    """Fetch, extract, dedupe and publish one feed entry; record exactly one outcome."""
    services = resources.get()
    retries = self.request.retries
    try:
        result = run_entry(message, services, retries=retries)
    except SoftTimeLimitExceeded:
        result = record_timeout(message, services, retries=retries)
    if isinstance(result, Retry):
        raise self.retry(
            args=[result.message], exc=result.error, countdown=result.delay, max_retries=retries + 1
        )
    return result


@app.task(
    name=ENTRIES_TASK,
    # A lost process is not retried as a batch: workers.app splits the batch into
    # single-entry tasks, so that a page that kills its process is isolated.
    max_retries=0,
    reject_on_worker_lost=False,
    retry_on_worker_lost=False,
)
def process_entries_task(messages: list[dict[str, Any]]) -> list[str]:
    """Run several feed entries one after the other; each ends like a single-entry task."""
    services = resources.get()
    kinds: list[str] = []
    for index, message in enumerate(messages):
        try:
            result = run_entry(message, services, retries=0)
            if isinstance(result, Retry):
                send_alone([result.message], countdown=result.delay, retries=1)
        except SoftTimeLimitExceeded:
            rest = messages[index:]
            if index == 0:  # the first entry had the whole budget: the failure is its own
                kinds.append(record_timeout(message, services, retries=0))
                rest = messages[1:]
            send_alone(rest)
            return kinds
        kinds.append("retry" if isinstance(result, Retry) else result)
    return kinds


def run_entry(message: dict[str, Any], services: Services, *, retries: int) -> str | Retry:
    """One entry through the pipeline: its recorded outcome kind, or the retry to schedule.

    Raises:
        SoftTimeLimitExceeded: the task's soft time limit passed (the caller decides).
        RedisUnavailable: the outcome could not be recorded (the message must not be acked).
    """
    entry = FeedEntry.from_message(message)
    throttled = int(message.get("throttled", 0))
    attempts = retries - throttled + 1
    try:
        outcome = process_entry(entry, services)
    except SoftTimeLimitExceeded:
        raise
    except RetryableError as exc:
        delay = plan_retry(exc, retries=retries, throttled=throttled, settings=services.settings)
        if delay is not None:
            again = {**message, "throttled": throttled + isinstance(exc, HostThrottled)}
            return Retry(again, exc, delay)
        outcome = record_failure(services.publisher, entry, exc, attempts=attempts)
    except DropArticle as exc:
        outcome = record_failure(services.publisher, entry, exc, attempts=attempts)
    except Exception as exc:  # a bug: dead-letter it with the error rather than loop or lose it
        log.exception("unexpected error for %s", entry.url)
        outcome = record_failure(services.publisher, entry, exc, attempts=attempts)
    return _recorded(entry, outcome, attempts)


def record_timeout(message: dict[str, Any], services: Services, *, retries: int) -> str:
    """Drop (``time_limit``) an entry that used up the task's soft time limit by itself."""
    entry = FeedEntry.from_message(message)
    attempts = retries - int(message.get("throttled", 0)) + 1
    timeout = TaskTimeLimit("task soft time limit exceeded", url=entry.url)
    outcome = record_failure(services.publisher, entry, timeout, attempts=attempts)
    return _recorded(entry, outcome, attempts)


def _recorded(entry: FeedEntry, outcome: Outcome, attempts: int) -> str:
    """Log and count an entry's recorded outcome; its kind."""
    log.info("outcome=%s attempts=%d", outcome, attempts)
    metrics.record_outcome(outcome.kind, outcome.reason, entry.enqueued_at, time.time())
    return str(outcome.kind)


def send_alone(messages: list[dict[str, Any]], *, countdown: float = 0, retries: int = 0) -> None:
    """Send each entry as its own ``newsflow.process_entry`` task."""
    for message in messages:
        name, args, task_id, argsrepr = entry_task([message])
        app.send_task(
            name,
            args=args,
            task_id=task_id,
            argsrepr=argsrepr,
            countdown=countdown or None,
            retries=retries,
        )
