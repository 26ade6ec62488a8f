"""Records: frozen, and the broker message round trip."""

from __future__ import annotations

import dataclasses

import pytest

from pipeline.models import FeedEntry


def test_feed_entry_message_round_trip_and_size_caps() -> None:
    entry = FeedEntry(
        url="https://e.com/a",
        feed_url="https://e.com/f",
        title="t" * 900,
        authors=("A", "B"),
        summary="s" * 5000,
        published_at="2026-01-01T00:00:00+00:00",
    )
    back = FeedEntry.from_message(entry.to_message())
    assert back.url == entry.url and back.authors == ("A", "B")
    assert len(back.title) == 500 and len(back.summary) == 1000


def test_records_are_frozen() -> None:
    entry = FeedEntry(url="https://e.com/a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.url = "x"  # type: ignore[misc]
