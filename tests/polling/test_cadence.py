"""The poll cadence: adaptive interval, server hints, bounds and error backoff (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipeline.polling.cadence import (
    WEEK_S,
    Bounds,
    backoff_interval,
    feed_period_s,
    next_interval,
    observed_interval,
    server_hint_s,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC).timestamp()
BOUNDS = Bounds(default_s=900, min_s=300, max_s=6 * 3600)


def _iso(seconds_ago: float) -> str:
    return datetime.fromtimestamp(NOW - seconds_ago, UTC).isoformat()


def test_busy_feed_holding_only_recent_entries_is_measured_over_what_it_covers() -> None:
    published = [_iso(600 * i) for i in range(20)]  # one entry every 10 minutes
    assert observed_interval(published, NOW) == pytest.approx(600 * 19 / 20)


def test_feed_covering_more_than_a_week_counts_the_week() -> None:
    published = [_iso(86400 * i + 1) for i in range(10)]  # daily, ten days back
    assert observed_interval(published, NOW) == pytest.approx(WEEK_S / 7)


def test_feed_silent_for_a_week_is_slow_and_undated_feed_is_unknown() -> None:
    assert observed_interval([_iso(30 * 86400)], NOW) == WEEK_S
    assert observed_interval([None, None, "not a date"], NOW) is None


def test_future_dates_are_ignored() -> None:
    published = [_iso(-365 * 86400), _iso(3600), _iso(7200)]
    assert observed_interval(published, NOW) == pytest.approx(3600)


def test_next_interval_stays_within_bounds() -> None:
    def interval(observed: float | None, previous: float | None = None) -> float:
        return next_interval(
            BOUNDS, observed_s=observed, previous_s=previous, overflowed=False, hint_s=0
        )

    assert interval(10) == 300
    assert interval(2 * WEEK_S) == 6 * 3600
    assert interval(1200) == 1200
    assert interval(None) == 900  # nothing known: the default
    assert interval(None, previous=2400) == 2400  # 304s keep the interval learned before


def test_server_hints_lengthen_but_never_beyond_the_maximum() -> None:
    def interval(hint: float) -> float:
        return next_interval(BOUNDS, observed_s=600, previous_s=None, overflowed=False, hint_s=hint)

    assert interval(3600) == 3600
    assert interval(30 * 86400) == 6 * 3600
    assert interval(60) == 600


def test_overflowing_window_at_least_halves_the_interval() -> None:
    interval = next_interval(BOUNDS, observed_s=None, previous_s=1800, overflowed=True, hint_s=0)
    assert interval == 900


@pytest.mark.parametrize(
    ("ttl", "period", "frequency", "expected"),
    [
        ("60", "", "", 3600.0),
        ("", "hourly", "2", 1800.0),
        ("", "daily", "", 86400.0),
        ("", "Weekly", "0", WEEK_S),
        ("abc", "sometimes", "x", None),
        ("-5", "", "", None),
        ("10", "hourly", "1", 3600.0),
    ],
)
def test_feed_period_from_ttl_and_syndication(
    ttl: str, period: str, frequency: str, expected: float | None
) -> None:
    assert feed_period_s(ttl, period, frequency) == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"cache-control": "public, max-age=1200"}, 1200.0),
        ({"cache-control": "max-age=1200", "age": "200"}, 1000.0),
        ({"cache-control": "s-maxage=99, max-age=600"}, 600.0),
        ({"cache-control": "no-cache, max-age=600"}, 0.0),
        ({"expires": "Sat, 28 Nov 2026 13:00:00 GMT"}, 3600.0),
        ({"expires": "0"}, 0.0),
        ({"expires": "Sat, 28 Nov 2026 11:00:00 GMT"}, 0.0),
        ({}, 0.0),
    ],
)
def test_cache_headers_hint(headers: dict[str, str], expected: float) -> None:
    assert server_hint_s(headers, ttl_s=None, period_s=None, now=NOW) == pytest.approx(expected)


def test_backoff_doubles_caps_at_the_maximum_and_never_gives_up() -> None:
    delays = [backoff_interval(BOUNDS, normal_s=900, streak=n) for n in range(1, 40)]
    assert 1800 * 0.9 <= delays[0] <= 1800 * 1.1
    assert 3600 * 0.9 <= delays[1] <= 3600 * 1.1
    assert all(d <= 6 * 3600 * 1.1 for d in delays)
    assert all(d >= 6 * 3600 * 0.9 for d in delays[5:])  # still polled every ~6 h
