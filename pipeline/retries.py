"""What happens to an entry that failed: run it again later, or record how it ended.

The one owner of retry state and failure handling; the Celery tasks only carry it out.

- :class:`Attempt` is where an entry is in its retries: the broker's retry count and how many
  of those were waits for a throttled host (waiting is not a failure and does not use up
  ``worker.max_retries``). It travels in the task message under :data:`THROTTLED_FIELD`.
- :func:`next_step` decides, for an error, between :class:`RetryLater` and :class:`GiveUp`.
- :func:`record_failure` writes the terminal outcome: ``dropped`` for a
  :class:`~pipeline.errors.DropArticle` (a task time limit included), ``dead`` for retries
  used up, a lost process or a bug.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.errors import (
    HostThrottled,
    PipelineError,
    RetryableError,
    UpstreamUnavailable,
)
from pipeline.models import FeedEntry, Outcome, OutcomeKind
from pipeline.publish import Publisher
from pipeline.settings import WorkerSettings

THROTTLED_FIELD = "throttled"
"""Message field: how many of the entry's retries were waits for a throttled host."""

MAX_THROTTLES = 50
"""Deferrals for a busy host before the entry is dead-lettered (hours of waiting)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    """An entry's place in its retries."""

    retries: int = 0
    """Times the entry was sent again (the broker's count, throttle waits included)."""
    throttled: int = 0
    """Of those, waits for a throttled host."""

    @classmethod
    def of(cls, message: Mapping[str, Any], retries: int = 0) -> Attempt:
        """The attempt a task message is on, given the broker's retry count."""
        return cls(retries=retries, throttled=int(message.get(THROTTLED_FIELD, 0)))

    @property
    def failures(self) -> int:
        """Earlier attempts that failed (throttle waits do not count)."""
        return self.retries - self.throttled

    @property
    def number(self) -> int:
        """This attempt's number, from 1, as recorded in the outcome's ``attempts``."""
        return self.failures + 1

    def message_for_retry(self, message: Mapping[str, Any], error: Exception) -> dict[str, Any]:
        """The message of the next attempt after ``error``: the throttle count carried on."""
        waited = isinstance(error, HostThrottled)
        return {**message, THROTTLED_FIELD: self.throttled + waited}


@dataclass(frozen=True, slots=True)
class RetryLater:
    """Run the entry again, alone, after ``delay_s`` seconds."""

    delay_s: float


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Record the entry's terminal outcome now."""


def next_step(error: Exception, attempt: Attempt, settings: WorkerSettings) -> RetryLater | GiveUp:
    """Whether an entry that failed with ``error`` on ``attempt`` runs again, and when."""
    if not isinstance(error, RetryableError):
        return GiveUp()
    delay = plan_retry(error, attempt, settings)
    return GiveUp() if delay is None else RetryLater(delay)


def plan_retry(error: RetryableError, attempt: Attempt, settings: WorkerSettings) -> float | None:
    """Seconds to wait before the next attempt, or None when the entry should be dead-lettered."""
    if isinstance(error, HostThrottled):
        if attempt.throttled >= MAX_THROTTLES:
            return None
        wait = max(1.0, error.retry_after) * random.uniform(1.0, 1.2)
        return min(wait, settings.visibility_timeout_s / 4)
    if attempt.failures >= settings.max_retries:
        return None
    return retry_delay(error, attempt.failures, base_s=2.0, max_s=settings.retry_backoff_max_s)


def retry_delay(error: RetryableError, attempt: int, *, base_s: float, max_s: float) -> float:
    """Seconds before retry ``attempt`` (0-based): exponential, jittered, honouring Retry-After."""
    delay = min(max_s, base_s * 2.0**attempt) * random.uniform(0.5, 1.0)
    retry_after = getattr(error, "retry_after", None)
    if isinstance(error, UpstreamUnavailable | HostThrottled) and retry_after:
        delay = max(delay, min(retry_after, max_s))
    return delay


def failure_kind(error: BaseException) -> OutcomeKind:
    """``dead`` for retries used up or an unexpected error, ``dropped`` for our other errors
    (a :class:`~pipeline.errors.DropArticle`: the entry will never be an article)."""
    expected = isinstance(error, PipelineError) and not isinstance(error, RetryableError)
    return OutcomeKind.DROPPED if expected else OutcomeKind.DEAD


def failure_reason(error: BaseException) -> str:
    """The outcome's ``reason``: the error's own reason, else its class name."""
    return getattr(error, "reason", "") or type(error).__name__


def record_failure(
    publisher: Publisher, entry: FeedEntry, error: BaseException, attempt: Attempt
) -> Outcome:
    """Record the terminal outcome of a failed entry.

    Raises:
        RedisUnavailable: the outcome could not be written (the caller must not ack).
    """
    return publisher.record_outcome(
        entry,
        failure_kind(error),
        failure_reason(error),
        f"{type(error).__name__}: {error}",
        attempts=attempt.number,
    )


def record_lost(
    publisher: Publisher, entry: FeedEntry, reason: str, error: str, attempt: Attempt
) -> Outcome:
    """Dead-letter an entry whose process died (``worker_lost``) or was killed at the hard
    time limit (``time_limit``) on every attempt.

    Raises:
        RedisUnavailable: the outcome could not be written.
    """
    return publisher.record_outcome(entry, OutcomeKind.DEAD, reason, error, attempts=attempt.number)
