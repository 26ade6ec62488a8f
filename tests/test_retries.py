"""pipeline.retries: the retry and failure policy, without Celery (pure, plus one real Redis)."""

from __future__ import annotations

import redis

from pipeline import keys
from pipeline.errors import (
    ExtractionFailed,
    FeedError,
    FetchTimeout,
    HostThrottled,
    TaskTimeLimit,
    UpstreamUnavailable,
)
from pipeline.models import OutcomeKind
from pipeline.publish import Publisher
from pipeline.retries import (
    MAX_THROTTLES,
    THROTTLED_FIELD,
    Attempt,
    GiveUp,
    RetryLater,
    failure_kind,
    failure_reason,
    next_step,
    plan_retry,
    record_failure,
    record_lost,
    retry_delay,
)
from pipeline.settings import Settings, WorkerSettings
from tests.factories import entry_for

URL = "https://example.com/a"


def _worker(max_retries: int = 5) -> WorkerSettings:
    return WorkerSettings(max_retries=max_retries, retry_backoff_max_s=300)


def test_attempt_reads_the_throttle_count_from_the_message() -> None:
    attempt = Attempt.of({"url": URL, THROTTLED_FIELD: 3}, retries=5)
    assert (attempt.failures, attempt.number) == (2, 3)
    assert Attempt.of({"url": URL}).number == 1


def test_waiting_for_a_throttled_host_does_not_use_up_retries() -> None:
    attempt = Attempt.of({"url": URL}, retries=0)
    throttled = HostThrottled("busy", url=URL, retry_after=2.0)
    message = attempt.message_for_retry({"url": URL}, throttled)
    assert message == {"url": URL, THROTTLED_FIELD: 1}
    after = Attempt.of(message, retries=1)
    assert after.number == 1  # still the first real attempt
    failed = after.message_for_retry(message, FetchTimeout("slow", url=URL))
    assert failed[THROTTLED_FIELD] == 1


def test_retryable_errors_back_off_then_give_up_after_max_retries() -> None:
    error = FetchTimeout("slow", url=URL)
    delays = [plan_retry(error, Attempt(retries=n), _worker(3)) for n in range(4)]
    assert all(d is not None for d in delays[:3]) and delays[3] is None
    assert 1.0 <= delays[0] <= 2.0 and 4.0 <= delays[2] <= 8.0  # type: ignore[operator]
    assert isinstance(next_step(error, Attempt(retries=0), _worker()), RetryLater)
    assert isinstance(next_step(error, Attempt(retries=5), _worker()), GiveUp)


def test_drops_and_bugs_are_never_retried() -> None:
    for error in (ExtractionFailed("empty", url=URL), ValueError("bug")):
        assert next_step(error, Attempt(), _worker()) == GiveUp()


def test_a_throttled_host_is_waited_for_up_to_max_throttles() -> None:
    error = HostThrottled("busy", url=URL, retry_after=3.0)
    wait = plan_retry(error, Attempt(retries=10, throttled=10), _worker(0))
    assert wait is not None and 3.0 <= wait <= 3.6
    assert plan_retry(error, Attempt(retries=60, throttled=MAX_THROTTLES), _worker()) is None


def test_retry_after_is_honoured_up_to_the_cap() -> None:
    error = UpstreamUnavailable("503", url=URL, retry_after=120.0)
    assert retry_delay(error, 0, base_s=2.0, max_s=300) == 120.0
    assert retry_delay(error, 0, base_s=2.0, max_s=60) == 60.0


def test_failure_kind_and_reason() -> None:
    assert failure_kind(ExtractionFailed("x", url=URL)) is OutcomeKind.DROPPED
    assert failure_kind(TaskTimeLimit("x", url=URL)) is OutcomeKind.DROPPED
    assert failure_kind(FeedError("x", url=URL)) is OutcomeKind.DROPPED
    assert failure_kind(FetchTimeout("x", url=URL)) is OutcomeKind.DEAD
    assert failure_kind(KeyError("x")) is OutcomeKind.DEAD
    assert failure_reason(TaskTimeLimit("x", url=URL)) == "time_limit"
    assert failure_reason(KeyError("x")) == "KeyError"


def test_recorded_failures_carry_the_attempt_number(
    redis_client: redis.Redis, settings: Settings
) -> None:
    publisher = Publisher(redis_client, settings)
    attempt = Attempt(retries=4, throttled=1)
    dead = record_failure(publisher, entry_for(URL), FetchTimeout("slow", url=URL), attempt)
    assert (dead.kind, dead.reason) == (OutcomeKind.DEAD, "fetch_timeout")
    other = "https://example.com/b"
    lost = record_lost(publisher, entry_for(other), "worker_lost", "killed", attempt)
    assert (lost.kind, lost.reason) == (OutcomeKind.DEAD, "worker_lost")
    letters = redis_client.xrange(keys.DEAD_STREAM)
    assert [fields[b"attempts"] for _, fields in letters] == [b"4", b"4"]
