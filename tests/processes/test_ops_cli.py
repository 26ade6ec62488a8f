"""Operator commands against a real Redis: stats, trim, dead list/retry/purge."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import redis

from pipeline import keys
from pipeline.dedupe import url_id
from pipeline.local.redis_server import RedisServer, free_port, start_redis
from pipeline.models import FeedEntry, OutcomeKind
from pipeline.publish import Publisher
from pipeline.schemas import schema_text
from pipeline.settings import Settings
from pipeline.streams.consumer import Consumer, ensure_group
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

    retried = run(redis_server, tmp_path, "dead", "retry", letter["dead_id"])
    assert retried.returncode == 0, retried.stderr
    assert redis_client.llen(keys.TASK_QUEUE) == 1
    assert redis_client.get(keys.url_outcome(url_id("https://example.com/slow"))) is None
    assert redis_client.hget(keys.OUTCOME_COUNTS, "dead") == b"0"
    assert redis_client.xlen(keys.DEAD_STREAM) == 0
    again = run(redis_server, tmp_path, "dead", "retry", letter["dead_id"])
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


def consumer_dead_letter(client: redis.Redis, settings: Settings, group: str) -> str:
    """Publish one article and let ``group`` fail it until the library dead-letters it."""
    ensure_group(client, group, start="$")
    entry = FeedEntry(url="https://example.com/poison", feed_url=FEED)
    article = make_article(entry.url, text="a story no consumer can take " * 20)
    Publisher(client, settings).publish_article(article, entry)
    [(source_id, _)] = client.xrevrange(keys.ARTICLES_STREAM, count=1)
    consumer = Consumer(
        client, group, "c1", min_idle_ms=1, claim_every_s=0, max_deliveries=2, block_ms=50
    )
    for delivery in consumer.deliveries(stop_when_idle=True):
        consumer.fail(delivery, "sink refused it")
        time.sleep(0.01)  # idle past min_idle_ms, so it is claimed again
    assert consumer.dead_lettered == 1
    return str(source_id.decode())


def test_both_dead_letter_kinds_share_the_common_fields_and_print_their_own_id(
    redis_server: RedisServer, redis_client: redis.Redis, settings: Settings, tmp_path: Path
) -> None:
    seed(redis_client, settings)
    source_id = consumer_dead_letter(redis_client, settings, "indexer")
    dead_ids = [sid.decode() for sid, _ in redis_client.xrevrange(keys.DEAD_STREAM)]

    listed = run(redis_server, tmp_path, "dead", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    consumer_row, worker_row = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [consumer_row["dead_id"], worker_row["dead_id"]] == dead_ids
    for row in (consumer_row, worker_row):
        assert {"type", "id", "url", "reason", "error", "attempts", "at"} <= set(row)
        assert "stream_id" not in row  # the source entry's id never passes for the dead letter's
    assert consumer_row["type"] == "consumer_dead" and worker_row["type"] == "dead"
    assert consumer_row["source_stream_id"] == source_id and consumer_row["group"] == "indexer"
    assert consumer_row["reason"] == "max_deliveries" and consumer_row["attempts"] == "2"
    assert consumer_row["url"] == "https://example.com/poison"
    assert consumer_row["error"] == "sink refused it"
    text = run(redis_server, tmp_path, "dead", "list").stdout
    assert f"{dead_ids[0]}  consumer_dead  max_deliveries  attempts=2" in text
    assert f"group=indexer source_stream_id={source_id}" in text

    # A consumer dead letter is given back to its group by a rewind, never re-added: retry
    # says how, leaves it in place and enqueues nothing.
    retried = run(redis_server, tmp_path, "dead", "retry", consumer_row["dead_id"])
    assert retried.returncode == 1
    assert f"newsflow replay --group indexer --since {source_id}" in retried.stderr
    assert "not a dead letter" not in retried.stderr
    assert redis_client.llen(keys.TASK_QUEUE) == 0 and redis_client.xlen(keys.DEAD_STREAM) == 2
    assert redis_client.xlen(keys.ARTICLES_STREAM) == 2  # seed's article and the poison one

    # ... which delivers it to that group again.
    replayed = run(redis_server, tmp_path, "replay", "--group", "indexer", "--since", source_id)
    assert replayed.returncode == 0, replayed.stderr
    again = Consumer(redis_client, "indexer", "c2", block_ms=50)
    assert [d.stream_id for d in again.deliveries(stop_when_idle=True)] == [source_id]

    purged = run(redis_server, tmp_path, "dead", "purge", consumer_row["dead_id"], "--yes")
    assert purged.returncode == 0 and "deleted 1 dead letters" in purged.stdout
    [(left, _)] = redis_client.xrange(keys.DEAD_STREAM)
    assert left.decode() == worker_row["dead_id"]
    done = run(redis_server, tmp_path, "dead", "retry", worker_row["dead_id"])
    assert done.returncode == 0, done.stderr
    assert redis_client.llen(keys.TASK_QUEUE) == 1


def test_dead_letters_written_before_the_common_fields_are_listed_with_them(
    redis_server: RedisServer, redis_client: redis.Redis, tmp_path: Path
) -> None:
    old = {"type": "consumer_dead", "stream": keys.ARTICLES_STREAM, "group": "g"}
    old |= {"stream_id": "1-0", "id": "a", "deliveries": "5", "error": "", "at": "1"}
    dead_id = redis_client.xadd(keys.DEAD_STREAM, old).decode()
    [row] = map(json.loads, run(redis_server, tmp_path, "dead", "list", "--json").stdout.split())
    assert row["dead_id"] == dead_id and row["source_stream_id"] == "1-0"
    assert row["reason"] == "max_deliveries" and row["attempts"] == "5"
    retried = run(redis_server, tmp_path, "dead", "retry", dead_id)
    assert retried.returncode == 1 and "no longer in newsflow:articles" in retried.stderr


def test_schema_prints_the_shipped_json_schema(redis_server: RedisServer, tmp_path: Path) -> None:
    shipped = ROOT / "pipeline" / "schemas" / "article-v1.json"
    for args in (("schema",), ("schema", "--version", "1")):
        done = run(redis_server, tmp_path, *args)
        assert done.returncode == 0, done.stderr
        assert done.stdout == shipped.read_text(encoding="utf-8")
        assert json.loads(done.stdout)["$id"].endswith("/article-v1.json")
    assert schema_text(1) == shipped.read_text(encoding="utf-8")
    unknown = run(redis_server, tmp_path, "schema", "--version", "9")
    assert unknown.returncode == 2 and "no schema for contract version 9" in unknown.stderr


def test_the_package_build_ships_the_schema(tmp_path: Path) -> None:
    """What the wheel (and the image, which pip-installs the package) holds: setuptools'
    build_py output, which bdist_wheel zips as is. A real wheel too where one can be built
    offline (setuptools >= 70.1 or the wheel package installed)."""
    build = subprocess.run(
        [sys.executable, "-c", "import setuptools; setuptools.setup()", "-q", "build_py"]
        + ["--build-lib", str(tmp_path / "lib")],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    built = tmp_path / "lib" / "pipeline" / "schemas" / "article-v1.json"
    assert built.read_bytes() == (ROOT / "pipeline" / "schemas" / "article-v1.json").read_bytes()
    wheel = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["-w", str(tmp_path / "dist"), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if wheel.returncode == 0:
        [whl] = (tmp_path / "dist").glob("newsflow-*.whl")
        with zipfile.ZipFile(whl) as archive:
            assert archive.read("pipeline/schemas/article-v1.json") == built.read_bytes()


def test_doctor_reads_the_feed_registry_and_prints_fixes_verbatim(
    redis_server: RedisServer, redis_client: redis.Redis, tmp_path: Path
) -> None:
    from pipeline.polling.registry import add_feed
    from pipeline.settings import FeedConfig

    done = run(redis_server, tmp_path, "doctor")
    assert "feeds: no enabled feed" in done.stdout
    # Brackets are text, not rich markup.
    assert "fix: add [[feeds]] to config/feeds.toml" in done.stdout, done.stdout
    add_feed(redis_client, FeedConfig(url=FEED))  # as `newsflow feeds add` does
    done = run(redis_server, tmp_path, "doctor")
    assert "no enabled feed" not in done.stdout
    assert "feeds: 1 enabled in the registry" in done.stdout, done.stdout
    write_feeds(tmp_path, [FEED, "https://example.org/other.xml"])
    done = run(redis_server, tmp_path, "doctor")
    assert "1 enabled in the registry, 1 more in config/" in done.stdout, done.stdout


def test_doctor_poller_is_true_for_active_and_standby_pollers_only_while_they_loop(
    redis_server: RedisServer, redis_client: redis.Redis, tmp_path: Path
) -> None:
    """`newsflow doctor --poller` (the poller container's healthcheck): a poller process on
    this host ran its loop within poller.lease_ttl_s, whether it polls or stands by."""
    import signal

    from tests.commands import wait_for, worker_env

    done = run(redis_server, tmp_path, "doctor", "--poller")
    assert done.returncode == 1 and "no poller loop" in done.stdout, done.stdout
    env = worker_env(redis_server.url, tmp_path, NEWSFLOW_POLLER_LEASE_TTL_S="3")
    pollers = [
        subprocess.Popen(
            newsflow("poller"),
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    try:
        wait_for(
            lambda: len(list(redis_client.scan_iter(keys.POLLER_HEARTBEAT_PREFIX + "*"))) == 2,
            30,
            "two pollers' heartbeats",
        )
        done = run(redis_server, tmp_path, "doctor", "--poller")
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.count(" active") == 1 and done.stdout.count(" standby") == 1
        assert "pollers: 2 running" in run(redis_server, tmp_path, "doctor").stdout
        # A process whose loop stopped (here: stopped by SIGSTOP) drops out within the TTL.
        for poller in pollers:
            poller.send_signal(signal.SIGSTOP)
        wait_for(
            lambda: not list(redis_client.scan_iter(keys.POLLER_HEARTBEAT_PREFIX + "*")),
            10,
            "the heartbeats to expire",
        )
        done = run(redis_server, tmp_path, "doctor", "--poller")
        assert done.returncode == 1 and "no poller loop" in done.stdout, done.stdout
        for poller in pollers:
            poller.send_signal(signal.SIGCONT)
            poller.terminate()
            poller.wait(timeout=30)
        assert not list(redis_client.scan_iter(keys.POLLER_HEARTBEAT_PREFIX + "*"))
        # A standby alone is healthy: the lease is held by a poller on another host.
        redis_client.set(keys.POLLER_LEASE, "elsewhere-1", ex=60)
        pollers.append(
            subprocess.Popen(
                newsflow("poller"),
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        wait_for(
            lambda: run(redis_server, tmp_path, "doctor", "--poller").returncode == 0,
            30,
            "the standby's heartbeat",
        )
        done = run(redis_server, tmp_path, "doctor", "--poller")
        assert "loop alive" in done.stdout and " standby" in done.stdout, done.stdout
        assert " active" not in done.stdout
        redis_client.delete(keys.POLLER_LEASE)
    finally:
        for poller in pollers:
            if poller.poll() is None:
                poller.send_signal(signal.SIGCONT)
                poller.terminate()
                poller.wait(timeout=30)
