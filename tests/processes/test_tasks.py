"""Outcomes through real Celery workers: every enqueued URL ends in exactly one outcome."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import redis

from pipeline import keys
from pipeline.dedupe import url_id
from pipeline.local.redis_server import RedisServer
from pipeline.local.site import LocalSite, sample_site_dir
from pipeline.streams.tail import outcome_counts
from tests.commands import poll_once, wait_for, worker_env, write_feeds
from tests.factories import respond, rss, serve_articles

ARTICLE = (sample_site_dir() / "articles" / "rates-hold.html").read_bytes()


def test_each_entry_ends_in_exactly_one_outcome(
    redis_server: RedisServer,
    redis_client: redis.Redis,
    fixture_site: LocalSite,
    start_worker: Any,
    tmp_path: Path,
) -> None:
    paths = ["/ok", "/gone", "/flaky", "/image", "/empty-page"]
    fixture_site.routes.update(
        {
            "/feed.xml": rss(fixture_site, paths),
            "/ok": respond(200, ARTICLE.replace(b"{{BASE}}", fixture_site.base_url.encode())),
            "/gone": respond(404, b"not here"),
            "/flaky": respond(503, b"try later"),
            "/image": respond(200, b"\x89PNG....", "image/png"),
            "/empty-page": respond(200, b"<html><body><p>Cookie wall.</p></body></html>"),
        }
    )
    write_feeds(tmp_path, [fixture_site.url("/feed.xml")])
    env = worker_env(
        redis_server.url,
        tmp_path,
        NEWSFLOW_WORKER_MAX_RETRIES="2",
        NEWSFLOW_WORKER_RETRY_BACKOFF_MAX_S="1",
    )
    start_worker(env)
    poll_once(env)
    wait_for(lambda: sum(outcome_counts(redis_client).values()) >= 5, 90, "five outcomes")

    assert outcome_counts(redis_client) == {"published": 1, "dropped": 3, "dead": 1}
    reasons = {
        f[b"url"].decode().rsplit("/", 1)[1]: f[b"reason"].decode()
        for _, f in redis_client.xrange(keys.EVENTS_STREAM)
    }
    assert reasons == {
        "gone": "fetch_refused",
        "image": "fetch_refused",
        "empty-page": "not_an_article",
    }
    [(_, dead)] = redis_client.xrange(keys.DEAD_STREAM)
    assert dead[b"reason"] == b"upstream_unavailable" and dead[b"attempts"] == b"3"
    assert b"HTTP 503" in dead[b"error"]
    assert json.loads(dead[b"entry"])["url"] == fixture_site.url("/flaky")
    assert fixture_site.count("/flaky") == 3 and fixture_site.count("/gone") == 1
    for path in paths:
        assert redis_client.get(keys.url_outcome(url_id(fixture_site.url(path))))


def test_a_batch_runs_each_entry_and_sends_a_too_slow_one_on_alone(
    redis_server: RedisServer,
    redis_client: redis.Redis,
    fixture_site: LocalSite,
    start_worker: Any,
    tmp_path: Path,
) -> None:
    """Entries of one poll share a task; the soft time limit hits the second one, so it and
    the rest go on as single tasks, where the slow one uses up a limit of its own."""
    paths = serve_articles(fixture_site, 3)
    fixture_site.routes["/news/1"] = respond(200, ARTICLE, delay_s=6)
    fixture_site.routes["/feed.xml"] = rss(fixture_site, paths)
    write_feeds(tmp_path, [fixture_site.url("/feed.xml")])
    env = worker_env(
        redis_server.url,
        tmp_path,
        NEWSFLOW_POLLER_ENTRIES_PER_TASK="4",
        NEWSFLOW_WORKER_SOFT_TIME_LIMIT_S="2",
        NEWSFLOW_WORKER_TIME_LIMIT_S="5",
    )
    worker = start_worker(env)
    poll_once(env)
    wait_for(lambda: sum(outcome_counts(redis_client).values()) >= 3, 60, "three outcomes")

    assert outcome_counts(redis_client) == {"published": 2, "dropped": 1}
    [(_, event)] = redis_client.xrange(keys.EVENTS_STREAM)
    assert event[b"url"] == fixture_site.url("/news/1").encode()
    assert event[b"reason"] == b"time_limit"
    assert fixture_site.count("/news/1") == 2  # in the batch, then alone
    assert fixture_site.count("/news/0") == 1 and fixture_site.count("/news/2") == 1
    log = (tmp_path / "worker-0.log").read_text(encoding="utf-8", errors="replace")
    assert "newsflow.process_entries" in log and worker.poll() is None
