"""The WebSub subscriber: subscription records in Redis, requests to hubs, the hubs' calls.

Every feed whose poll state names a hub (fields ``hub`` and ``topic`` of
``keys.feed_state``, written by the poller from :func:`pipeline.polling.websub.declared_hub`)
gets a subscription; :func:`run_round` sends the subscription requests that are due (new,
not verified yet, to renew, to leave), each under a Redis lock of its feed so that several
``newsflow websub`` replicas send it once. The hubs' calls land on any replica:
:func:`answer_hub` answers intent verifications and denials, :func:`take_push` takes pushed
content through :func:`pipeline.polling.poll.ingest_push` (the poll's parser, seen-set and
enqueue path: an entry pushed and polled is enqueued once).

A record changes only inside a WATCH/MULTI transaction on its key, together with the
feed's entry in ``keys.WEBSUB_FEEDS`` (which subscription is the feed's) and
``keys.WEBSUB_LIVE`` (until when its lease runs), so a verification racing an unsubscribe
ends in one state or the other, never half of each.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import redis

from pipeline import keys
from pipeline.connection import redis_errors
from pipeline.errors import PipelineError, RedisUnavailable
from pipeline.fetch.form_post import PostAnswer
from pipeline.polling.lease import Lease
from pipeline.polling.poll import Enqueue, ingest_push
from pipeline.polling.registry import registered_feed, registered_feeds
from pipeline.polling.subscription import (
    Action,
    Subscription,
    Verdict,
    answer_intent,
    judge_push,
    leaving,
    next_action,
    requested,
)
from pipeline.settings import Settings

log = logging.getLogger(__name__)
PostForm = Callable[[str, Mapping[str, str]], PostAnswer]
"""Sends a form to a hub (``pipeline.fetch.form_post.post_form`` with the fetch settings).

Raises PipelineError when the hub cannot be reached or is refused by the SSRF policy."""
LEAVING_TTL_S = 86400
"""A subscription being left is forgotten after a day if the hub never verifies that."""
LOCK_TTL_S = 120.0
"""The per-feed lock outlives one hub request (fetch.deadline_s is at most an hour: a lock
that expires mid-request lets a second replica send a duplicate, which hubs accept)."""
_TRIES = 5


# ------------------------------------------------------------------ records


def load_subscription(client: redis.Redis, sub_id: str) -> Subscription | None:
    """The subscription with this id, or None.

    Raises:
        RedisUnavailable: Redis could not be reached.
    """
    with redis_errors("websub state unavailable"):
        raw: Any = client.hgetall(keys.websub_subscription(sub_id))
    return Subscription.from_fields(raw)


def change_subscription(
    client: redis.Redis, sub_id: str, decide: Callable[[Subscription | None], Verdict]
) -> Verdict:
    """Apply ``decide(current record)`` atomically: its ``record`` is written (or the record
    deleted when it says ``forget``) with the feed's index entries, unless the record changed
    meanwhile, in which case ``decide`` runs again on the new one.

    Raises:
        RedisUnavailable: Redis could not be reached, or the record kept changing.
    """
    key = keys.websub_subscription(sub_id)
    with redis_errors("websub state unavailable"), client.pipeline() as transaction:
        pipe: Any = transaction  # redis-py's pipeline methods are untyped
        for _ in range(_TRIES):
            try:
                pipe.watch(key)
                current = Subscription.from_fields(pipe.hgetall(key))
                verdict = decide(current)
                pipe.multi()
                _write(pipe, key, current, verdict)
                pipe.execute()
                return verdict
            except redis.WatchError:
                continue
    raise RedisUnavailable(f"websub subscription {sub_id} kept changing")


def _write(pipe: Any, key: str, old: Subscription | None, verdict: Verdict) -> None:
    """Queue the writes of one change: the record and the feed's index entries."""
    new = verdict.record
    if verdict.forget and old is not None:
        pipe.delete(key)
        if old.state != "leaving":  # a record being left is no longer the feed's
            pipe.hdel(keys.WEBSUB_FEEDS, old.feed_url)
            _unindex(pipe, old.feed_url)
        return
    if new is None:
        return
    pipe.hset(key, mapping=new.to_fields())
    if old is None:
        pipe.hset(keys.WEBSUB_FEEDS, new.feed_url, new.id)
    if new.state in ("requested", "active"):
        pipe.zadd(keys.WEBSUB_DUE, {new.feed_url: new.next_at})
    if new.state == "active":
        pipe.zadd(keys.WEBSUB_LIVE, {new.feed_url: new.expires_at})
    entering = old is None or old.state != new.state
    if new.state in ("denied", "leaving") and entering:
        _unindex(pipe, new.feed_url)
    if new.state == "leaving" and entering:
        pipe.hdel(keys.WEBSUB_FEEDS, new.feed_url)
        pipe.expire(key, LEAVING_TTL_S)


def _unindex(pipe: Any, feed_url: str) -> None:
    """The feed has no subscription in use any more: not live, nothing due."""
    pipe.zrem(keys.WEBSUB_LIVE, feed_url)
    pipe.zrem(keys.WEBSUB_DUE, feed_url)


# ------------------------------------------------------------------ the hubs' calls


def answer_hub(
    client: redis.Redis, sub_id: str, query: Mapping[str, str], *, settings: Settings, now: float
) -> Verdict:
    """Answer a hub's GET on a subscription's callback (verification or denial), recording
    what it changes.

    Raises:
        RedisUnavailable: Redis could not be reached.
    """

    def decide(current: Subscription | None) -> Verdict:
        return answer_intent(current, query, now=now, settings=settings.websub)

    return change_subscription(client, sub_id, decide)


@dataclass(frozen=True, slots=True, kw_only=True)
class PushResult:
    """What became of pushed content (the HTTP answer is 2xx either way)."""

    outcome: str
    """``pushed``, ``error`` (not a feed), ``unsigned``, ``bad_signature``, ``no_feed``."""
    feed_url: str = ""
    new: int = 0
    detail: str = ""


def take_push(
    client: redis.Redis,
    sub: Subscription,
    body: bytes,
    headers: Mapping[str, str],
    *,
    settings: Settings,
    enqueue: Enqueue,
) -> PushResult:
    """Take content a hub pushed for ``sub`` (active): checked against its secret, then fed
    to the feed's poll path; unsigned or badly signed content is ignored.

    Raises:
        RedisUnavailable: Redis or the broker could not be reached (the hub should retry).
    """
    decision = judge_push(sub, body, headers.get("x-hub-signature"))
    if decision != "accept":
        return PushResult(outcome=decision, feed_url=sub.feed_url)
    feed = registered_feed(client, sub.feed_url)
    if feed is None or not feed.enabled:
        return PushResult(outcome="no_feed", feed_url=sub.feed_url)
    result = ingest_push(feed, body, headers, client=client, settings=settings, enqueue=enqueue)
    return PushResult(outcome=result.status, feed_url=feed.url, new=result.new, detail=result.error)


# ------------------------------------------------------------------ requests to hubs


def run_round(
    client: redis.Redis, settings: Settings, *, post: PostForm, now: float, scan: bool = True
) -> float:
    """Send the subscription requests that are due; the seconds until the next one is.

    With ``scan`` every registered feed is compared with its subscription (a hub found or
    changed, a feed removed or disabled, a new callback URL): run it every
    ``websub.scan_interval_s``. Without, only the subscriptions due by ``now``
    (``keys.WEBSUB_DUE``) are looked at, which is cheap enough for every few seconds.

    Raises:
        RedisUnavailable: Redis could not be reached.
    """
    for feed_url in _feeds_to_scan(client, settings, now) if scan else _due(client, now):
        _act(client, feed_url, settings, post=post, now=now)
    with redis_errors("websub state unavailable"):
        first: Any = client.zrange(keys.WEBSUB_DUE, 0, 0, withscores=True)
    return first[0][1] - now if first else float("inf")


def _feeds_to_scan(client: redis.Redis, settings: Settings, now: float) -> list[str]:
    """The feeds whose subscription needs something now, by comparing them all."""
    feeds = {feed.url for feed in registered_feeds(client) if feed.enabled}
    declared = _declared(client, sorted(feeds))
    subs = _current_subscriptions(client)
    base = settings.websub.callback_url
    return [
        url
        for url in sorted(feeds | set(subs))
        if next_action(subs.get(url), declared.get(url), callback_base=base, now=now)
    ]


def _due(client: redis.Redis, now: float) -> list[str]:
    with redis_errors("websub state unavailable"):
        raw: Any = client.zrangebyscore(keys.WEBSUB_DUE, "-inf", now, start=0, num=1000)
    return [_text(url) for url in raw]


def _act(
    client: redis.Redis, feed_url: str, settings: Settings, *, post: PostForm, now: float
) -> None:
    """Do what the feed's subscription needs, holding the feed's lock (else skip: another
    replica is at it). State is read again under the lock."""
    lock = Lease(client, keys.websub_lock(feed_url), LOCK_TTL_S)
    if not lock.hold():
        return
    try:
        with redis_errors("websub state unavailable"):
            sub_id = _text(client.hget(keys.WEBSUB_FEEDS, feed_url))
        sub = load_subscription(client, sub_id) if sub_id else None
        feed = registered_feed(client, feed_url)
        declared = _declared(client, [feed_url]).get(feed_url) if feed and feed.enabled else None
        base = settings.websub.callback_url
        action: Action = next_action(sub, declared, callback_base=base, now=now)
        if not action and (sub is None or sub.state not in ("requested", "active")):
            with redis_errors("websub state unavailable"):
                client.zrem(keys.WEBSUB_DUE, feed_url)  # nothing of it is due
        if action == "subscribe":
            _subscribe(client, feed_url, sub, declared, settings, post=post, now=now)
        elif action == "unsubscribe" and sub is not None:
            _unsubscribe(client, sub, post=post)
        elif action == "forget" and sub is not None:
            change_subscription(client, sub.id, lambda current: Verdict(status=200, forget=True))
            log.info("websub feed=%s: denied subscription forgotten", feed_url)
    finally:
        lock.release()


def _subscribe(
    client: redis.Redis,
    feed_url: str,
    sub: Subscription | None,
    declared: tuple[str, str] | None,
    settings: Settings,
    *,
    post: PostForm,
    now: float,
) -> None:
    """Record the request first (the hub may verify before it answers us), then send it."""
    new = sub is None
    if sub is None:
        if declared is None:
            return
        hub, topic = declared
        sub = Subscription.new(feed_url, hub, topic, callback_base=settings.websub.callback_url)
    sent = requested(sub, now=now)
    noted = change_subscription(client, sent.id, lambda now_is: _request_noted(now_is, sent, new))
    if noted.record is None:
        return  # the subscription went meanwhile (denied, left): nothing to ask
    fields = {
        "hub.mode": "subscribe",
        "hub.topic": sent.topic,
        "hub.callback": sent.callback,
        "hub.lease_seconds": str(settings.websub.lease_s),
        "hub.secret": sent.secret,
    }
    error = _send(post, sent, fields)
    change_subscription(client, sent.id, lambda current: _answer_noted(current, error))


def _request_noted(current: Subscription | None, sent: Subscription, new: bool) -> Verdict:
    """The request on the record: a new one is created; an existing one is updated unless
    it went meanwhile (denied, left, forgotten)."""
    if current is None:
        return Verdict(status=200, record=sent if new else None)
    if current.state not in ("requested", "active"):
        return Verdict(status=200)
    noted = dataclasses.replace(
        current, attempts=sent.attempts, requested_at=sent.requested_at, next_at=sent.next_at
    )
    return Verdict(status=200, record=noted)


def _answer_noted(current: Subscription | None, error: str) -> Verdict:
    """The hub's answer on the record: its error, unless the hub verified meanwhile."""
    if current is None or current.verified_at >= current.requested_at:
        return Verdict(status=200)
    if current.state not in ("requested", "active") or current.error == error:
        return Verdict(status=200)
    return Verdict(status=200, record=dataclasses.replace(current, error=error))


def _unsubscribe(client: redis.Redis, sub: Subscription, *, post: PostForm) -> None:
    """Leave the subscription (it stops being the feed's at once), then tell the hub."""
    change_subscription(client, sub.id, lambda current: _leave(current))
    fields = {"hub.mode": "unsubscribe", "hub.topic": sub.topic, "hub.callback": sub.callback}
    _send(post, sub, fields)


def _leave(current: Subscription | None) -> Verdict:
    if current is None or current.state == "leaving":
        return Verdict(status=200)
    if current.state == "denied":
        return Verdict(status=200, forget=True)
    return Verdict(status=200, record=leaving(current))


def _send(post: PostForm, sub: Subscription, fields: Mapping[str, str]) -> str:
    """Send one request to the subscription's hub; the problem, or "" when it accepted it."""
    mode = fields["hub.mode"]
    try:
        answer = post(sub.hub, fields)
    except PipelineError as exc:
        log.warning("websub %s feed=%s hub=%s failed: %s", mode, sub.feed_url, sub.hub, exc)
        return f"{exc.reason}: {exc}"
    if 200 <= answer.status < 300:
        log.info("websub %s feed=%s hub=%s: HTTP %d", mode, sub.feed_url, sub.hub, answer.status)
        return ""
    text = " ".join(answer.text.split())[:200]
    log.warning(
        "websub %s feed=%s hub=%s refused: HTTP %d %s",
        mode,
        sub.feed_url,
        sub.hub,
        answer.status,
        text,
    )
    return f"hub answered HTTP {answer.status}: {text}"


def _current_subscriptions(client: redis.Redis) -> dict[str, Subscription]:
    """Each feed's current subscription (``keys.WEBSUB_FEEDS``), by feed URL."""
    with redis_errors("websub state unavailable"):
        raw: Any = client.hgetall(keys.WEBSUB_FEEDS)
        mapping = {_text(feed): _text(sub_id) for feed, sub_id in raw.items()}
        pipe = client.pipeline(transaction=False)
        for sub_id in mapping.values():
            pipe.hgetall(keys.websub_subscription(sub_id))
        records = pipe.execute()
    subs = {feed: Subscription.from_fields(r) for feed, r in zip(mapping, records, strict=True)}
    return {feed: sub for feed, sub in subs.items() if sub is not None}


def _declared(client: redis.Redis, feed_urls: list[str]) -> dict[str, tuple[str, str]]:
    """The (hub, topic) each feed's poll state names, for the feeds naming one."""
    with redis_errors("feed state unavailable"):
        pipe = client.pipeline(transaction=False)
        for url in feed_urls:
            pipe.hmget(keys.feed_state(url), ["hub", "topic"])
        rows = pipe.execute()
    declared = {}
    for url, (hub, topic) in zip(feed_urls, rows, strict=True):
        if hub and topic:
            declared[url] = (_text(hub), _text(topic))
    return declared


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
