"""Operator commands against a real Redis: stats, trim, dead list/retry/purge."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import redis

from pipeline import keys
from pipeline.dedupe import url_id
from pipeline.local.redis_server import RedisServer, free_port, start_redis
from pipeline.models import FeedEntry, OutcomeKind
from pipeline.publish import Publisher
from pipeline.settings import Settings
from tests.commands import ROOT, newsflow, write_feeds
from tests.factories import make_article

FEED = "https://example.com/feed"


def run(redis_server: RedisServer, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "NEWSFLOW_REDIS_URL": redis_server.url,
        "NEWSFLOW_CONFIG_DIR": str(config),
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(
        newsflow(*args), capture_output=True, text=True, env=env, cwd=ROOT, timeout=60
    )


def seed(client: redis.Redis, settings: Settings) -> Publisher:
    publisher = Publisher(client, settings)
    client.set(keys.ENQUEUED_COUNT, 4)
    client.hset(keys.feed_outcomes(FEED), "enqueued", 4)
    ok = FeedEntry(url="https://example.com/ok", feed_url=FEED)
    publisher.publish_article(make_article(ok.url), ok)
    for name in ("gone", "slow"):
        entry = FeedEntry(url=f"https://example.com/{name}", feed_url=FEED)
        kind = OutcomeKind.DROPPED if name == "gone" else OutcomeKind.DEAD
        publisher.record_outcome(entry, kind, f"{name}_reason", f"{name} error", attempts=6)
    return publisher


def test_stats_json_counts_every_entry(
    redis_server: RedisServer, redis_client: redis.Redis, settings: Settings, tmp_path: Path
) -> None:
    seed(redis_client, settings)
    write_feeds(tmp_path, [FEED])
    done = run(redis_server, tmp_path, "stats", "--json")
    assert done.returncode == 0, done.stderr
    stats = json.loads(done.stdout)
    assert stats["enqueued"] == 4 and stats["in_flight"] == 1
    assert stats["outcomes"] == {"published": 1, "dropped": 1, "dead": 1}
    [feed] = stats["feeds"]
    assert feed["url"] == FEED and feed["counts"]["enqueued"] == 4
    assert stats["streams"] == {keys.ARTICLES_STREAM: 1, keys.EVENTS_STREAM: 1, keys.DEAD_STREAM: 1}
    table = run(redis_server, tmp_path, "stats")
    assert "4 enqueued" in table.stdout and "1 in flight" in table.stdout


def test_dead_list_retry_purge(
    redis_server: RedisServer, redis_client: redis.Redis, settings: Settings, tmp_path: Path
) -> None:
    seed(redis_client, settings)
    listed = run(redis_server, tmp_path, "dead", "list", "--json")
    [letter] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert letter["url"] == "https://example.com/slow" and letter["reason"] == "slow_reason"

    retried = run(redis_server, tmp_path, "dead", "retry", letter["stream_id"])
    assert retried.returncode == 0, retried.stderr
    assert redis_client.llen(keys.TASK_QUEUE) == 1
    assert redis_client.get(keys.url_outcome(url_id("https://example.com/slow"))) is None
    assert redis_client.hget(keys.OUTCOME_COUNTS, "dead") == b"0"
    assert redis_client.xlen(keys.DEAD_STREAM) == 0
    again = run(redis_server, tmp_path, "dead", "retry", letter["stream_id"])
    assert again.returncode == 1 and "not a dead letter" in again.stderr

    Publisher(redis_client, settings).record_outcome(
        FeedEntry(url="https://example.com/late", feed_url=FEED), OutcomeKind.DEAD, "x", "y"
    )
    purged = run(redis_server, tmp_path, "dead", "purge", "--yes")
    assert "deleted 1 dead letters" in purged.stdout and redis_client.xlen(keys.DEAD_STREAM) == 0


def test_trim_reports_what_groups_hold(
    redis_server: RedisServer, redis_client: redis.Redis, settings: Settings, tmp_path: Path
) -> None:
    publisher = Publisher(redis_client, settings)
    for i in range(30):
        entry = FeedEntry(url=f"https://example.com/{i}", feed_url=FEED)
        publisher.publish_article(make_article(entry.url, text=f"story {i} " * 40), entry)
    redis_client.xgroup_create(keys.ARTICLES_STREAM, "slow", id="0")
    (tmp_path / "newsflow.toml").write_text("stream_maxlen = 5\n")
    done = run(redis_server, tmp_path, "trim")
    assert f"{keys.ARTICLES_STREAM}: deleted 0 (held back by a consumer group)" in done.stdout
    assert redis_client.xlen(keys.ARTICLES_STREAM) == 30


def test_doctor_warns_without_persistence(redis_server: RedisServer, tmp_path: Path) -> None:
    done = run(redis_server, tmp_path, "doctor")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "AOF is off" in done.stdout and "appendonly yes" in done.stdout
    assert "no enabled feed" in done.stdout


def test_doctor_warns_when_the_queue_has_paused_polling(
    redis_server: RedisServer, redis_client: redis.Redis, tmp_path: Path
) -> None:
    (tmp_path / "newsflow.toml").write_text("[poller]\nmax_queued_tasks = 2\n")
    redis_client.rpush(keys.TASK_QUEUE, "a task")
    assert "queue depth 1 (polling pauses at 2)" in run(redis_server, tmp_path, "doctor").stdout
    redis_client.rpush(keys.TASK_QUEUE, "another task")
    done = run(redis_server, tmp_path, "doctor")
    assert done.returncode == 0
    assert "queue depth 2: the poller pauses polling at 2" in done.stdout
    assert "start more workers" in done.stdout


def test_doctor_is_quiet_on_a_persistent_redis(tmp_path: Path) -> None:
    server = start_redis(tmp_path / "aof", persistent=True)
    try:
        redis.Redis(port=server.port).config_set("maxmemory", "100mb")
        done = run(server, tmp_path, "doctor")
    finally:
        server.stop()
    assert done.returncode == 0
    assert "AOF enabled" in done.stdout and "noeviction with a maxmemory" in done.stdout


def test_doctor_fails_when_redis_is_down(tmp_path: Path) -> None:
    env = {
        "NEWSFLOW_REDIS_URL": f"redis://:s3cret@127.0.0.1:{free_port()}/0",
        "NEWSFLOW_CONFIG_DIR": str(tmp_path),
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        newsflow("doctor"), capture_output=True, text=True, env=env, cwd=ROOT, timeout=60
    )
    assert done.returncode == 1 and "cannot reach redis://:***@" in done.stdout
    assert "s3cret" not in done.stdout + done.stderr


def test_doctor_flags_an_evicting_redis(
    redis_server: RedisServer, redis_client: redis.Redis, tmp_path: Path
) -> None:
    redis_client.config_set("maxmemory-policy", "allkeys-lru")
    try:
        done = run(redis_server, tmp_path, "doctor")
    finally:
        redis_client.config_set("maxmemory-policy", "noeviction")
    assert done.returncode == 1 and "may evict queue entries" in done.stdout
