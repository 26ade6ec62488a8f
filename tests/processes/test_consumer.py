"""Consumer groups against a real Redis; `newsflow consume` / `replay` as real subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from pipeline import keys
from pipeline.local.redis_server import RedisServer, free_port
from pipeline.publish import encode_article
from pipeline.streams.consumer import Consumer, Delivery, ensure_group
from pipeline.streams.replay import MAX_SEQ, id_before, stream_position
from tests.commands import ROOT, newsflow, wait_for, worker_env
from tests.factories import make_article

GROUP = "indexer"
T0 = datetime(2026, 11, 20, tzinfo=UTC)
T0_MS = int(T0.timestamp() * 1000)

# A sink: records (article id from the body, delivery count from the environment), then
# exits with the status given for that article (default 0).
SINK = """
import json, os, sys
article = json.load(sys.stdin)
with open(sys.argv[1], "a") as out:
    out.write(json.dumps([article["id"], int(os.environ["NEWSFLOW_DELIVERIES"])]) + "\\n")
sys.exit(int(dict(arg.split("=") for arg in sys.argv[2:]).get(article["id"], 0)))
"""
SLEEPER = "import sys, time; sys.stdin.read(); time.sleep(60)"
SLOW = "import sys, time; sys.stdin.read(); open(sys.argv[1], 'w').close(); time.sleep(1)"


def add_articles(client: redis.Redis, n: int, *, first_ms: int | None = None) -> list[str]:
    """XADD n v1 article entries (ids first_ms, first_ms + 1000, ... if given)."""
    ids = []
    for i in range(n):
        fields = encode_article(make_article(f"https://example.com/story-{i}"))
        entry_id = "*" if first_ms is None else f"{first_ms + 1000 * i}-0"
        ids.append(client.xadd(keys.ARTICLES_STREAM, fields, id=entry_id).decode())
    return ids


def pending(client: redis.Redis, group: str = GROUP) -> int:
    return int(client.xpending(keys.ARTICLES_STREAM, group)["pending"])


def take(consumer: Consumer, n: int) -> list[Delivery]:
    """The next n deliveries (the iterator is left suspended, as a busy consumer would)."""
    it = consumer.deliveries(stop_when_idle=True)
    return [next(it) for _ in range(n)]


def drain(consumer: Consumer) -> list[Delivery]:
    return list(consumer.deliveries(stop_when_idle=True))


def fast(client: redis.Redis, name: str, **options: int | float) -> Consumer:
    options.setdefault("block_ms", 50)
    return Consumer(client, GROUP, name, **options)


# --- library -------------------------------------------------------------------------------


def test_ensure_group_is_idempotent_and_creates_the_stream(redis_client: redis.Redis) -> None:
    assert ensure_group(redis_client, GROUP) is True
    assert ensure_group(redis_client, GROUP) is False
    [info] = redis_client.xinfo_groups(keys.ARTICLES_STREAM)
    assert info["name"] == GROUP.encode() and info["last-delivered-id"] == b"0-0"


def test_restarted_consumer_reads_its_own_pending_entries_first(
    redis_client: redis.Redis,
) -> None:
    ensure_group(redis_client, GROUP)
    old = add_articles(redis_client, 2)
    first = take(fast(redis_client, "c1"), 2)  # read, never acked: the process "died"
    assert [d.deliveries for d in first] == [1, 1]
    new = add_articles(redis_client, 1)

    restarted = fast(redis_client, "c1")
    got = drain(restarted)
    assert [d.stream_id for d in got] == old + new
    assert [d.deliveries for d in got] == [2, 2, 1]
    assert got[0].body is not None and got[0].body["id"] == got[0].article_id
    assert got[0].fields["type"] == b"article"


def test_ack_empties_the_pending_list(redis_client: redis.Redis) -> None:
    ensure_group(redis_client, GROUP)
    add_articles(redis_client, 3)
    consumer = fast(redis_client, "c1")
    for delivery in consumer.deliveries(stop_when_idle=True):
        assert pending(redis_client) >= 1
        assert consumer.ack(delivery) is True
    assert pending(redis_client) == 0
    assert drain(fast(redis_client, "c1")) == []


def test_stop_ends_after_the_current_delivery_and_hands_back_read_ahead(
    redis_client: redis.Redis,
) -> None:
    ensure_group(redis_client, GROUP)
    ids = add_articles(redis_client, 3)
    consumer = fast(redis_client, "c1", min_idle_ms=100)
    seen = []
    for delivery in consumer.deliveries():
        seen.append(delivery.stream_id)
        consumer.ack(delivery)
        consumer.stop()
    assert seen == ids[:1]
    # The two read-ahead entries are claimable now, counted as never delivered.
    other = drain(fast(redis_client, "c2", min_idle_ms=100))
    assert [(d.stream_id, d.deliveries) for d in other] == [(ids[1], 1), (ids[2], 1)]


def test_slow_consumer_hands_back_read_ahead_before_it_could_be_claimed(
    redis_client: redis.Redis,
) -> None:
    ensure_group(redis_client, GROUP)
    ids = add_articles(redis_client, 3)
    slow = fast(redis_client, "slow", min_idle_ms=100)
    it = slow.deliveries(stop_when_idle=True)
    current = next(it)
    assert current.stream_id == ids[0]
    slow.ack(current)
    time.sleep(0.06)  # over min_idle / 2 on the first entry: the other two are handed back
    assert list(it) == []
    other = drain(fast(redis_client, "other", min_idle_ms=100))
    assert [(d.stream_id, d.deliveries) for d in other] == [(ids[1], 1), (ids[2], 1)]


def test_trimmed_own_pending_entries_are_acked_not_yielded(redis_client: redis.Redis) -> None:
    ensure_group(redis_client, GROUP)
    ids = add_articles(redis_client, 5)
    take(fast(redis_client, "c1"), 5)
    redis_client.xtrim(keys.ARTICLES_STREAM, maxlen=2, approximate=False)

    restarted = fast(redis_client, "c1")
    got = drain(restarted)
    assert [d.stream_id for d in got] == ids[3:]
    assert restarted.trimmed == 3
    assert pending(redis_client) == 2


def test_trimmed_entries_of_a_dead_consumer_are_acked_when_claimed(
    redis_client: redis.Redis,
) -> None:
    """Redis < 7.0 returns them as nil from XAUTOCLAIM, >= 7.0 as deleted ids: both acked."""
    ensure_group(redis_client, GROUP)
    ids = add_articles(redis_client, 5)
    take(fast(redis_client, "dead"), 5)
    redis_client.xtrim(keys.ARTICLES_STREAM, maxlen=2, approximate=False)
    time.sleep(0.06)

    survivor = fast(redis_client, "survivor", min_idle_ms=50)
    got = drain(survivor)
    assert [(d.stream_id, d.deliveries) for d in got] == [(ids[3], 2), (ids[4], 2)]
    assert survivor.trimmed == 3
    for delivery in got:
        survivor.ack(delivery)
    assert pending(redis_client) == 0


def test_entry_delivered_too_often_goes_to_the_dead_stream(redis_client: redis.Redis) -> None:
    ensure_group(redis_client, GROUP)
    [poison] = add_articles(redis_client, 1)
    consumer = fast(redis_client, "c1", min_idle_ms=1, claim_every_s=0, max_deliveries=2)
    attempts = 0
    for delivery in consumer.deliveries(stop_when_idle=True):
        attempts += 1
        consumer.fail(delivery, f"boom {attempts}")
        time.sleep(0.01)
    assert attempts == 2 and consumer.dead_lettered == 1
    assert pending(redis_client) == 0
    [(_, dead)] = redis_client.xrange(keys.DEAD_STREAM)
    assert dead[b"type"] == b"consumer_dead" and dead[b"stream_id"] == poison.encode()
    assert dead[b"stream"] == keys.ARTICLES_STREAM.encode() and dead[b"group"] == b"indexer"
    assert dead[b"deliveries"] == b"2" and dead[b"error"] == b"boom 2"
    assert dead[b"id"] == redis_client.xrange(keys.ARTICLES_STREAM)[0][1][b"id"]
    assert abs(int(dead[b"at"]) - time.time() * 1000) < 60_000


def test_stream_positions_from_times_ids_and_ms() -> None:
    assert stream_position("2026-11-20T00:00:00Z") == f"{T0_MS}-0"
    assert stream_position("2026-11-20T01:00:00+01:00") == f"{T0_MS}-0"
    assert stream_position("2026-11-20") == f"{T0_MS}-0"  # naive: UTC
    assert stream_position("2026-11-20T00:00:00Z", end=True) == f"{T0_MS}-{MAX_SEQ}"
    assert stream_position(str(T0_MS)) == f"{T0_MS}-0"
    assert stream_position("1700000000000-7", end=True) == "1700000000000-7"
    for bad in ("yesterday", "1969-12-31T00:00:00Z", "12-x"):
        with pytest.raises(ValueError):
            stream_position(bad)
    assert id_before("5-3") == "5-2"
    assert id_before("5-0") == f"4-{MAX_SEQ}"
    assert id_before("0-0") == "0-0"


# --- the command line (real processes) ------------------------------------------------------


@pytest.fixture
def env(redis_server: RedisServer, tmp_path: Path) -> dict[str, str]:
    return worker_env(redis_server.url, tmp_path / "config")


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Started consumer processes (each leads its own process group); killed at teardown."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def start_consume(
    processes: list[subprocess.Popen[bytes]], env: dict[str, str], log: Path, *args: str
) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            newsflow("consume", *args),
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # one process group: the consumer and its command
        )
    processes.append(proc)
    return proc


def wait_running(
    proc: subprocess.Popen[bytes], log: Path, predicate: Callable[[], bool], what: str
) -> None:
    """Wait for ``predicate`` while ``proc`` runs; fail at once, with its log, if it exits."""

    def check() -> bool:
        if proc.poll() is not None:
            output = log.read_text(encoding="utf-8", errors="replace")
            pytest.fail(f"consumer exited with {proc.returncode} before {what}:\n{output}")
        return predicate()

    wait_for(check, 20, what)


def sink_command(tmp_path: Path, out: Path, *exits: str) -> list[str]:
    script = tmp_path / "sink.py"
    script.write_text(SINK, encoding="utf-8")
    return [sys.executable, str(script), str(out), *exits]


def records(path: Path) -> list[list[object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_killed_consumer_entries_are_reclaimed_and_processed_once(
    redis_client: redis.Redis,
    env: dict[str, str],
    processes: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    """F-15: SIGKILL between read and ack; another consumer takes over after --min-idle."""
    ensure_group(redis_client, GROUP)
    add_articles(redis_client, 3)
    first, *rest = [f[b"id"].decode() for _, f in redis_client.xrange(keys.ARTICLES_STREAM)]
    a = start_consume(
        processes, env, tmp_path / "a.log", "--group", GROUP, "--consumer", "a",
        "--", sys.executable, "-c", SLEEPER,
    )  # fmt: skip
    wait_running(
        a, tmp_path / "a.log", lambda: pending(redis_client) == 1, "consumer a to read an entry"
    )
    os.killpg(a.pid, signal.SIGKILL)
    a.wait()

    out = tmp_path / "sink.jsonl"
    b = start_consume(
        processes, env, tmp_path / "b.log", "--group", GROUP, "--consumer", "b",
        "--min-idle", "0.5", "--", *sink_command(tmp_path, out),
    )  # fmt: skip
    # An empty PEL alone is not the end: b may have acked what it read and not read the rest.
    wait_running(
        b,
        tmp_path / "b.log",
        lambda: len(records(out)) == 3 and pending(redis_client) == 0,
        "consumer b to reclaim a's entry and process all three",
    )
    # The entry a held is processed once more, as delivery 2; the ones a never read, once.
    assert sorted(map(tuple, records(out))) == sorted([(first, 2)] + [(aid, 1) for aid in rest])
    b.send_signal(signal.SIGTERM)
    assert b.wait(timeout=10) == 0
    log = (tmp_path / "b.log").read_text(encoding="utf-8")
    assert log.count("delivery 2: exit 0, acked") == 1, log
    assert log.count("delivery 1: exit 0, acked") == 2, log


def test_failing_command_is_dead_lettered_after_max_deliveries(
    redis_client: redis.Redis,
    env: dict[str, str],
    processes: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    """F-17: a command that always fails on one entry; the others go through."""
    ensure_group(redis_client, GROUP)
    ids = add_articles(redis_client, 3)
    poison = redis_client.xrange(keys.ARTICLES_STREAM)[1][1][b"id"].decode()
    out = tmp_path / "sink.jsonl"
    proc = start_consume(
        processes, env, tmp_path / "c.log", "--group", GROUP, "--consumer", "c",
        "--min-idle", "0.2", "--max-deliveries", "3",
        "--", *sink_command(tmp_path, out, f"{poison}=3"),
    )  # fmt: skip
    wait_running(
        proc,
        tmp_path / "c.log",
        lambda: redis_client.xlen(keys.DEAD_STREAM) == 1,
        "the dead letter",
    )
    wait_for(
        lambda: len(records(out)) == 5 and pending(redis_client) == 0,
        5,
        "the good entries processed and an empty PEL",
    )
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 0

    tries = [deliveries for aid, deliveries in records(out) if aid == poison]
    assert tries == [1, 2, 3]
    assert len(records(out)) == 5  # the two good entries once each
    [(_, dead)] = redis_client.xrange(keys.DEAD_STREAM)
    assert dead[b"stream_id"] == ids[1].encode() and dead[b"id"] == poison.encode()
    assert dead[b"deliveries"] == b"3" and dead[b"error"] == b"exit status 3"


def test_sigterm_finishes_the_current_entry_then_exits_0(
    redis_client: redis.Redis,
    env: dict[str, str],
    processes: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    ensure_group(redis_client, GROUP)
    first, _ = add_articles(redis_client, 2)
    started = tmp_path / "started"
    proc = start_consume(
        processes, env, tmp_path / "c.log", "--group", GROUP, "--",
        sys.executable, "-c", SLOW, str(started),
    )  # fmt: skip
    wait_running(
        proc, tmp_path / "c.log", started.exists, "the command to start on the first entry"
    )
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert pending(redis_client) == 0
    [info] = redis_client.xinfo_groups(keys.ARTICLES_STREAM)
    assert info["last-delivered-id"] == first.encode()  # the second was never read
    log = (tmp_path / "c.log").read_text(encoding="utf-8")
    assert log.count("exit 0, acked") == 1, log


def test_consume_once_acks_everything_and_exits(
    redis_client: redis.Redis, env: dict[str, str], tmp_path: Path
) -> None:
    add_articles(redis_client, 2)
    out = tmp_path / "sink.jsonl"
    done = subprocess.run(
        newsflow("consume", "--group", GROUP, "--once", "--", *sink_command(tmp_path, out)),
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(records(out)) == 2 and pending(redis_client) == 0
    assert done.stderr.count("exit 0, acked") == 2


@pytest.mark.parametrize(
    "command",
    [["consume", "--group", GROUP, "--once", "--", "true"], ["replay", "--since", "0"]],
)
def test_unreachable_redis_fails_fast(command: list[str], tmp_path: Path) -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    env = {"NEWSFLOW_REDIS_URL": url, "NEWSFLOW_CONFIG_DIR": str(tmp_path), "PATH": "/usr/bin"}
    done = subprocess.run(
        newsflow(*command), env=env, cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 1
    assert "redis://:***@127.0.0.1" in done.stderr and "hunter2" not in done.stderr


def test_replay_prints_the_articles_of_a_time_range(
    redis_client: redis.Redis, env: dict[str, str]
) -> None:
    ids = add_articles(redis_client, 4, first_ms=T0_MS)
    done = subprocess.run(
        newsflow("replay", "--since", "2026-11-20T00:00:01Z", "--until", ids[2]),
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    printed = [json.loads(line) for line in done.stdout.splitlines()]
    expected = [redis_client.xrange(keys.ARTICLES_STREAM, i, i)[0][1][b"id"] for i in ids[1:3]]
    assert [a["id"].encode() for a in printed] == expected
    assert printed[0]["url"] == "https://example.com/story-1"


def test_replay_rewinds_a_group_to_reprocess_history(
    redis_client: redis.Redis, env: dict[str, str]
) -> None:
    ids = add_articles(redis_client, 4, first_ms=T0_MS)
    ensure_group(redis_client, GROUP)
    ensure_group(redis_client, "late")
    consumer = fast(redis_client, "c1")
    for delivery in consumer.deliveries(stop_when_idle=True):
        consumer.ack(delivery)

    def replay(*args: str) -> subprocess.CompletedProcess[str]:
        argv = newsflow("replay", "--since", str(T0_MS + 2000), *args)
        return subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=30)

    done = replay("--group", GROUP)
    assert done.returncode == 0, done.stderr
    assert f"group {GROUP}: 2 entries re-exposed" in done.stdout
    assert [d.stream_id for d in drain(fast(redis_client, "c1"))] == ids[2:]

    # A group that has not read that far is never moved forward; an unknown group is an error.
    assert "late: 0 entries re-exposed" in replay("--group", "late").stdout
    assert redis_client.xinfo_groups(keys.ARTICLES_STREAM)[1]["last-delivered-id"] == b"0-0"
    missing = replay("--group", "nobody")
    assert missing.returncode == 2 and "no consumer group 'nobody'" in missing.stderr


def test_consumer_dead_letters_carry_the_common_dead_letter_fields(
    redis_client: redis.Redis,
) -> None:
    """type, id, url, reason, error, attempts and at, as the workers' dead letters have."""
    ensure_group(redis_client, GROUP)
    add_articles(redis_client, 1)
    consumer = fast(redis_client, "c1", min_idle_ms=1, claim_every_s=0, max_deliveries=3)
    for delivery in consumer.deliveries(stop_when_idle=True):
        consumer.fail(delivery, "nope")
        time.sleep(0.01)
    [(_, dead)] = redis_client.xrange(keys.DEAD_STREAM)
    assert dead[b"reason"] == b"max_deliveries" and dead[b"attempts"] == b"3"
    assert dead[b"deliveries"] == b"3" and dead[b"url"] == b"https://example.com/story-0"
    common = {b"type", b"id", b"url", b"reason", b"error", b"attempts", b"at"}
    assert common <= set(dead) and b"entry" not in set(dead)
