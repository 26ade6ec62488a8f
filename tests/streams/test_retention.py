"""Retention never deletes what a consumer group still needs."""

from __future__ import annotations

import time

import redis

from pipeline.streams.retention import group_floor, trim_stream

STREAM = "newsflow:test:stream"


def fill(client: redis.Redis, n: int) -> list[str]:
    return [client.xadd(STREAM, {"n": str(i)}).decode() for i in range(n)]


def test_without_groups_length_and_age_apply(redis_client: redis.Redis) -> None:
    ids = fill(redis_client, 300)
    result = trim_stream(redis_client, STREAM, max_len=10, max_age_s=3600)
    assert result.deleted == 290 and redis_client.xlen(STREAM) == 10
    assert redis_client.xrange(STREAM)[0][0].decode() == ids[-10]
    later = time.time() + 7200
    assert trim_stream(redis_client, STREAM, max_len=100, max_age_s=3600, now=later).deleted == 10


def test_pending_and_unread_entries_are_kept(redis_client: redis.Redis) -> None:
    ids = fill(redis_client, 300)
    redis_client.xgroup_create(STREAM, "slow", id="0")
    read = redis_client.xreadgroup("slow", "c1", {STREAM: ">"}, count=50)
    delivered = [i.decode() for i, _ in read[0][1]]
    redis_client.xack(STREAM, "slow", *delivered[:30])  # 20 still pending
    assert group_floor(redis_client, STREAM) == ids[30]
    result = trim_stream(redis_client, STREAM, max_len=10, max_age_s=3600)
    assert result.held_by_groups and result.deleted == 30
    assert redis_client.xlen(STREAM) == 270
    claimed = redis_client.xautoclaim(STREAM, "slow", "c2", 0, "0-0", count=100)
    assert len(claimed[1]) == 20 and all(fields for _, fields in claimed[1])  # none deleted


def test_a_group_that_never_read_keeps_everything(redis_client: redis.Redis) -> None:
    fill(redis_client, 50)
    redis_client.xgroup_create(STREAM, "new", id="0")
    assert trim_stream(redis_client, STREAM, max_len=5, max_age_s=1).deleted == 0
    redis_client.xgroup_create(STREAM, "tail", id="$")
    assert trim_stream(redis_client, STREAM, max_len=5, max_age_s=1).deleted == 0


def test_everything_acked_trims_to_policy(redis_client: redis.Redis) -> None:
    fill(redis_client, 40)
    redis_client.xgroup_create(STREAM, "fast", id="0")
    read = redis_client.xreadgroup("fast", "c1", {STREAM: ">"}, count=100)
    redis_client.xack(STREAM, "fast", *[i for i, _ in read[0][1]])
    assert trim_stream(redis_client, STREAM, max_len=15, max_age_s=3600).deleted == 25
