"""Every Redis name is under newsflow:."""

from __future__ import annotations

from pipeline import keys


def test_every_key_is_prefixed() -> None:
    names = [
        keys.ARTICLES_STREAM,
        keys.EVENTS_STREAM,
        keys.DEAD_STREAM,
        keys.OUTCOME_COUNTS,
        keys.CELERY_KEY_PREFIX,
        keys.url_outcome("x"),
        keys.content_fingerprint("y"),
        keys.feed_state("https://e.com/f"),
        keys.feed_seen("https://e.com/f"),
        keys.feed_outcomes("https://e.com/f"),
    ]
    assert all(name.startswith(keys.PREFIX) for name in names)
    assert keys.feed_state("https://e.com/f") != keys.feed_state("https://e.com/g")
