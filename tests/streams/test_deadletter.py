"""The dead-letter stream's two record kinds (workers' ``dead``, consumers' ``consumer_dead``)."""

from __future__ import annotations

import redis

from pipeline import keys
from pipeline.models import FeedEntry, OutcomeKind
from pipeline.publish import Publisher
from pipeline.settings import Settings
from pipeline.streams.deadletter import (
    CONSUMER_DEAD,
    consumer_retry_hint,
    get_dead,
    list_dead,
    purge_dead,
    reopen_dead,
)

CONSUMER_RECORD = {
    "type": CONSUMER_DEAD,
    "id": "a1",
    "url": "https://example.com/a",
    "reason": "max_deliveries",
    "attempts": "5",
    "error": "boom",
    "at": "1",
    "stream": keys.ARTICLES_STREAM,
    "group": "indexer",
    "stream_id": "1-1",
    "deliveries": "5",
}


def test_printed_id_is_the_dead_letters_own(redis_client: redis.Redis) -> None:
    dead_id = redis_client.xadd(keys.DEAD_STREAM, CONSUMER_RECORD).decode()
    [letter] = list_dead(redis_client)
    row = letter.as_json()
    assert row["dead_id"] == dead_id == letter.stream_id
    assert row["source_stream_id"] == "1-1" and "stream_id" not in row
    assert letter.kind == CONSUMER_DEAD


def test_consumer_dead_letters_are_never_reopened_as_entries(redis_client: redis.Redis) -> None:
    dead_id = redis_client.xadd(keys.DEAD_STREAM, CONSUMER_RECORD).decode()
    assert reopen_dead(redis_client, dead_id) is None
    assert redis_client.xlen(keys.DEAD_STREAM) == 1
    letter = get_dead(redis_client, dead_id)
    assert letter is not None
    assert "trimmed" in consumer_retry_hint(redis_client, letter)  # 1-1 is not in the stream


def test_rewind_hint_names_the_group_and_the_entry(redis_client: redis.Redis) -> None:
    source = redis_client.xadd(keys.ARTICLES_STREAM, {"id": "a1"}).decode()
    dead_id = redis_client.xadd(keys.DEAD_STREAM, CONSUMER_RECORD | {"stream_id": source})
    letter = get_dead(redis_client, dead_id.decode())
    assert letter is not None
    hint = consumer_retry_hint(redis_client, letter)
    assert f"newsflow replay --group indexer --since {source}" in hint
    assert f"newsflow dead purge {letter.stream_id}" in hint


def test_purge_takes_ids_of_both_kinds(redis_client: redis.Redis, settings: Settings) -> None:
    Publisher(redis_client, settings).record_outcome(
        FeedEntry(url="https://example.com/w", feed_url="https://example.com/feed"),
        OutcomeKind.DEAD,
        "http_5xx",
        "503",
        attempts=6,
    )
    consumer_id = redis_client.xadd(keys.DEAD_STREAM, CONSUMER_RECORD).decode()
    worker_id = redis_client.xrange(keys.DEAD_STREAM, count=1)[0][0].decode()
    assert get_dead(redis_client, "not-an-id") is None
    assert purge_dead(redis_client, stream_ids=["not-an-id", "1-0"]) == 0
    assert purge_dead(redis_client, stream_ids=[consumer_id, worker_id]) == 2
    assert redis_client.xlen(keys.DEAD_STREAM) == 0
