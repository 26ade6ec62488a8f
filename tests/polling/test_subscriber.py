"""The subscriber's records and rounds against the test Redis, with hubs as plain functions."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from collections.abc import Mapping

import pytest
import redis

from pipeline import keys
from pipeline.errors import UpstreamUnavailable
from pipeline.fetch.form_post import PostAnswer
from pipeline.models import FeedEntry
from pipeline.polling import subscriber
from pipeline.polling.lease import Lease
from pipeline.polling.registry import add_feed
from pipeline.polling.subscriber import (
    answer_hub,
    change_subscription,
    load_subscription,
    run_round,
    take_push,
)
from pipeline.polling.subscription import Subscription, Verdict
from pipeline.settings import FeedConfig, Settings, WebSubSettings

FEED = "https://news.example/feed.xml"
HUB = "https://hub.example/"
NOW = 1_800_000_000.0


@pytest.fixture
def websub_settings(settings: Settings) -> Settings:
    return settings.replace(websub=WebSubSettings(callback_url="https://me.example/websub"))


class Hub:
    """Records each form; answers with ``status`` or raises ``error``."""

    def __init__(self, status: int = 202, error: Exception | None = None) -> None:
        self.forms: list[dict[str, str]] = []
        self.status = status
        self.error = error

    def __call__(self, url: str, fields: Mapping[str, str]) -> PostAnswer:
        self.forms.append({"url": url, **fields})
        if self.error is not None:
            raise self.error
        return PostAnswer(url=url, status=self.status, text="busy")


def _declare(client: redis.Redis, hub: str = HUB, enabled: bool = True) -> None:
    add_feed(client, FeedConfig(url=FEED, enabled=enabled))
    client.hset(keys.feed_state(FEED), mapping={"hub": hub, "topic": FEED})


def _current(client: redis.Redis) -> Subscription:
    sub_id: bytes | None = client.hget(keys.WEBSUB_FEEDS, FEED)  # type: ignore[assignment]
    assert sub_id is not None
    sub = load_subscription(client, sub_id.decode())
    assert sub is not None
    return sub


def test_a_hub_that_fails_is_asked_again_later(
    redis_client: redis.Redis, websub_settings: Settings
) -> None:
    _declare(redis_client)
    hub = Hub(error=UpstreamUnavailable("connection refused", url=HUB))
    wait = run_round(redis_client, websub_settings, post=hub, now=NOW)
    [form] = hub.forms
    assert form["hub.mode"] == "subscribe" and form["hub.lease_seconds"] == "864000"
    sub = _current(redis_client)
    assert (sub.state, sub.attempts, sub.next_at) == ("requested", 1, NOW + 300)
    assert sub.error.startswith("upstream_unavailable: connection refused")
    assert wait == 300
    run_round(redis_client, websub_settings, post=hub, now=NOW + 299)
    assert len(hub.forms) == 1
    hub.error, hub.status = None, 429
    run_round(redis_client, websub_settings, post=hub, now=NOW + 300)
    assert len(hub.forms) == 2 and hub.forms[1]["hub.secret"] == form["hub.secret"]
    sub = _current(redis_client)
    assert (sub.attempts, sub.next_at) == (2, NOW + 300 + 600)
    assert sub.error == "hub answered HTTP 429: busy"


def test_a_feed_another_replica_is_busy_with_is_left_alone(
    redis_client: redis.Redis, websub_settings: Settings
) -> None:
    _declare(redis_client)
    assert Lease(redis_client, keys.websub_lock(FEED), 60, owner="other-replica").hold()
    hub = Hub()
    run_round(redis_client, websub_settings, post=hub, now=NOW)
    assert hub.forms == [] and not redis_client.exists(keys.WEBSUB_FEEDS)


def test_a_disabled_feed_is_not_subscribed(
    redis_client: redis.Redis, websub_settings: Settings
) -> None:
    _declare(redis_client, enabled=False)
    hub = Hub()
    assert run_round(redis_client, websub_settings, post=hub, now=NOW) == float("inf")
    assert hub.forms == []


def test_a_change_is_decided_again_on_the_record_as_it_now_is(redis_client: redis.Redis) -> None:
    """WATCH/MULTI: a record written between the read and the write is read again."""
    sub = Subscription.new(FEED, HUB, FEED, callback_base="https://me.example/websub")
    change_subscription(redis_client, sub.id, lambda current: Verdict(status=200, record=sub))
    other = redis.Redis(connection_pool=redis_client.connection_pool)
    seen: list[str | None] = []

    def decide(current: Subscription | None) -> Verdict:
        seen.append(current.error if current else None)
        if len(seen) == 1:  # another process writes meanwhile
            other.hset(keys.websub_subscription(sub.id), "error", "written meanwhile")
        assert current is not None
        return Verdict(status=200, record=current)

    change_subscription(redis_client, sub.id, decide)
    assert seen == ["", "written meanwhile"]
    stored = load_subscription(redis_client, sub.id)
    assert stored is not None and stored.error == "written meanwhile"


def test_a_verification_after_the_unsubscribe_does_not_revive_it(
    redis_client: redis.Redis, websub_settings: Settings
) -> None:
    _declare(redis_client)
    run_round(redis_client, websub_settings, post=Hub(), now=NOW)
    sub = _current(redis_client)
    query = {"hub.mode": "subscribe", "hub.topic": FEED, "hub.challenge": "c"}
    assert answer_hub(redis_client, sub.id, query, settings=websub_settings, now=NOW).status == 200
    assert redis_client.zscore(keys.WEBSUB_LIVE, FEED) == NOW + 864000
    redis_client.hset(keys.feed_state(FEED), "hub", "")  # the feed no longer names a hub
    hub = Hub()
    run_round(redis_client, websub_settings, post=hub, now=NOW + 1)
    assert [f["hub.mode"] for f in hub.forms] == ["unsubscribe"]
    assert not redis_client.exists(keys.WEBSUB_FEEDS) and not redis_client.exists(keys.WEBSUB_LIVE)
    assert 0 < redis_client.ttl(keys.websub_subscription(sub.id)) <= 86400
    late = answer_hub(redis_client, sub.id, query, settings=websub_settings, now=NOW + 2)
    assert late.status == 404 and not redis_client.exists(keys.WEBSUB_LIVE)
    leave = {**query, "hub.mode": "unsubscribe"}
    assert answer_hub(redis_client, sub.id, leave, settings=websub_settings, now=NOW + 3).body == (
        b"c"
    )
    assert not redis_client.exists(keys.websub_subscription(sub.id))


def test_content_for_a_feed_no_longer_registered_is_ignored(
    redis_client: redis.Redis, websub_settings: Settings
) -> None:
    sub = Subscription.new(FEED, HUB, FEED, callback_base="https://me.example/websub")
    active = dataclasses.replace(sub, state="active")
    body = b"<rss version='2.0'><channel><item><link>https://news.example/a</link></item>"
    body += b"</channel></rss>"
    signature = "sha256=" + hmac.new(sub.secret.encode(), body, hashlib.sha256).hexdigest()
    sink: list[FeedEntry] = []
    result = take_push(
        redis_client,
        active,
        body,
        {"x-hub-signature": signature},
        settings=websub_settings,
        enqueue=sink.extend,
    )
    assert result.outcome == "no_feed" and sink == []
    add_feed(redis_client, FeedConfig(url=FEED))
    result = take_push(
        redis_client,
        active,
        body,
        {"x-hub-signature": signature},
        settings=websub_settings,
        enqueue=sink.extend,
    )
    assert (result.outcome, result.new) == ("pushed", 1)
    assert [e.url for e in sink] == ["https://news.example/a"]


def test_due_subscriptions_are_renewed_without_scanning_every_feed(
    redis_client: redis.Redis, websub_settings: Settings
) -> None:
    _declare(redis_client)
    hub = Hub()
    run_round(redis_client, websub_settings, post=hub, now=NOW)
    sub = _current(redis_client)
    query = {"hub.mode": "subscribe", "hub.topic": FEED, "hub.challenge": "c"}
    query["hub.lease_seconds"] = "1000"
    answer_hub(redis_client, sub.id, query, settings=websub_settings, now=NOW)
    renew = NOW + 1000 - 500  # a day before the end, at most half of the lease
    assert redis_client.zscore(keys.WEBSUB_DUE, FEED) == renew
    assert run_round(redis_client, websub_settings, post=hub, now=NOW + 1, scan=False) == (
        renew - NOW - 1
    )
    assert len(hub.forms) == 1
    run_round(redis_client, websub_settings, post=hub, now=renew, scan=False)
    assert [f["hub.mode"] for f in hub.forms] == ["subscribe", "subscribe"]
    assert hub.forms[1]["hub.callback"] == hub.forms[0]["hub.callback"]
    assert redis_client.zscore(keys.WEBSUB_DUE, FEED) == renew + 300  # sent; verified soon?


def test_a_due_entry_of_no_subscription_is_dropped(
    redis_client: redis.Redis, websub_settings: Settings
) -> None:
    redis_client.zadd(keys.WEBSUB_DUE, {FEED: NOW - 10})  # e.g. its record was deleted
    hub = Hub()
    assert run_round(redis_client, websub_settings, post=hub, now=NOW, scan=False) == float("inf")
    assert hub.forms == [] and not redis_client.exists(keys.WEBSUB_DUE)


def test_a_renewal_of_a_subscription_gone_meanwhile_does_not_revive_it(
    redis_client: redis.Redis, websub_settings: Settings
) -> None:
    """The subscription read before the request, forgotten before it is noted: nothing is
    recreated and nothing is sent."""
    _declare(redis_client)
    run_round(redis_client, websub_settings, post=Hub(), now=NOW)
    read_before = _current(redis_client)
    change_subscription(
        redis_client, read_before.id, lambda current: Verdict(status=200, forget=True)
    )
    hub = Hub()
    subscriber._subscribe(
        redis_client,
        FEED,
        read_before,
        (HUB, FEED),
        websub_settings,
        post=hub,
        now=NOW + 1,
    )
    assert hub.forms == []
    assert not redis_client.exists(keys.websub_subscription(read_before.id))
    assert not redis_client.exists(keys.WEBSUB_FEEDS)
