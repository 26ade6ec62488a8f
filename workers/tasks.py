"""Celery tasks: thin wrappers that carry out :mod:`pipeline.retries` (retry or record).

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

from billiard.exceptions import TimeLimitExceeded, WorkerLostError
from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import task_failure

from pipeline.errors import DropArticle, RetryableError, TaskTimeLimit
from pipeline.models import FeedEntry, Outcome
from pipeline.process import Services, process_entry
from pipeline.retries import Attempt, RetryLater, next_step, record_failure, record_lost
from workers import metrics, resources
from workers.app import ENTRIES_TASK, ENTRY_TASK, app, entry_task

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Retry:
    """An entry to run again alone, after ``delay`` seconds."""

    message: dict[str, Any]
    error: Exception
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
    attempt = Attempt.of(message, self.request.retries)
    try:
        result = run_entry(message, services, attempt)
    except SoftTimeLimitExceeded:
        result = record_timeout(message, services, attempt)
    if isinstance(result, Retry):
        raise self.retry(
            args=[result.message],
            exc=result.error,
            countdown=result.delay,
            max_retries=attempt.retries + 1,
        )
    return result


@app.task(
    name=ENTRIES_TASK,
    # A lost process is not retried as a batch: _dead_letter_lost_task splits the batch into
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
            result = run_entry(message, services, Attempt.of(message))
            if isinstance(result, Retry):
                send_alone([result.message], countdown=result.delay, retries=1)
        except SoftTimeLimitExceeded:
            rest = messages[index:]
            if index == 0:  # the first entry had the whole budget: the failure is its own
                kinds.append(record_timeout(message, services, Attempt.of(message)))
                rest = messages[1:]
            send_alone(rest)
            return kinds
        kinds.append("retry" if isinstance(result, Retry) else result)
    return kinds


def run_entry(message: dict[str, Any], services: Services, attempt: Attempt) -> str | Retry:
    """One entry through the pipeline: its recorded outcome kind, or the retry to schedule.

    Raises:
        SoftTimeLimitExceeded: the task's soft time limit passed (the caller decides).
        RedisUnavailable: the outcome could not be recorded (the message must not be acked).
    """
    entry = FeedEntry.from_message(message)
    try:
        outcome = process_entry(entry, services)
    except SoftTimeLimitExceeded:
        raise
    except Exception as exc:
        if not isinstance(exc, RetryableError | DropArticle):
            log.exception("unexpected error for %s", entry.url)  # a bug: dead-letter, not loop
        step = next_step(exc, attempt, services.settings.worker)
        if isinstance(step, RetryLater):
            return Retry(attempt.message_for_retry(message, exc), exc, step.delay_s)
        outcome = record_failure(services.publisher, entry, exc, attempt)
    return _recorded(entry, outcome, attempt)


def record_timeout(message: dict[str, Any], services: Services, attempt: Attempt) -> str:
    """Drop (``time_limit``) an entry that used up the task's soft time limit by itself."""
    entry = FeedEntry.from_message(message)
    timeout = TaskTimeLimit("task soft time limit exceeded", url=entry.url)
    outcome = record_failure(services.publisher, entry, timeout, attempt)
    return _recorded(entry, outcome, attempt)


def _recorded(entry: FeedEntry, outcome: Outcome, attempt: Attempt) -> str:
    """Log and count an entry's recorded outcome; its kind."""
    log.info("outcome=%s attempts=%d", outcome, attempt.number)
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


@task_failure.connect
def _dead_letter_lost_task(
    sender: Any = None, exception: BaseException | None = None, args: Any = None, **_: Any
) -> None:
    """A task whose process died every time (poison page, hard time limit) is dead-lettered.

    Runs in the worker's main process once Celery gives up on the message
    (``task_retry_on_worker_lost`` bounded by ``max_retries``). A batch whose process died
    is split at once instead: each of its entries goes on alone, with its own retries
    (entries already done are skipped by their outcome key; the one that killed the
    process is then isolated).
    """
    if not isinstance(exception, WorkerLostError | TimeLimitExceeded) or not args:
        return
    reason = "time_limit" if isinstance(exception, TimeLimitExceeded) else "worker_lost"
    if getattr(sender, "name", "") == ENTRIES_TASK:
        log.warning(
            "a batch of %d entries lost its process (%s): sending them one by one",
            len(args[0]),
            reason,
        )
        send_alone(args[0])
        return
    retries = int(getattr(getattr(sender, "request", None), "retries", 0) or 0)
    attempt = Attempt.of(args[0], retries)
    entry = FeedEntry.from_message(args[0])
    outcome = record_lost(resources.get().publisher, entry, reason, str(exception), attempt)
    log.warning("outcome=%s", outcome)
    metrics.record_outcome(outcome.kind, reason, None, 0.0)
