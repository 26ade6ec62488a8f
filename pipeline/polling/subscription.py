"""A WebSub subscription (W3C Recommendation, https://www.w3.org/TR/websub/): its rules.

The subscription record and its states, what a feed's subscription needs next, the answer
to a hub's intent verification or denial (section 5), the ``X-Hub-Signature`` check of
pushed content (section 7), and when to renew a lease. Pure: the records live in Redis
through ``pipeline.polling.subscriber``.

A subscription's states::

    requested --verified--> active --renewal sent, verified again--> active
        |                     |
        +------denied---------+--> denied      (kept: never asked again for that hub+topic)
        |                     |
        +--hub or topic changed, feed removed--> leaving --unsubscribe verified--> (deleted)
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import msgspec

from pipeline.settings import WebSubSettings

State = Literal["requested", "active", "denied", "leaving"]
Action = Literal["subscribe", "unsubscribe", "forget", ""]
MAX_LEASE_S = 10 * 365 * 86400
RETRY_BASE_S = 300.0
"""A request sent and not verified (or failed) is sent again after 5 min, then 10, 20...
up to a day."""
_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Subscription:
    """One subscription of one feed at one hub, as stored (``keys.websub_subscription``)."""

    id: str
    feed_url: str
    hub: str
    topic: str
    callback: str
    secret: str
    state: State = "requested"
    attempts: int = 0
    """Requests sent since the last verification."""
    next_at: float = 0.0
    """When the subscriber acts next: send the request again, or renew."""
    requested_at: float = 0.0
    verified_at: float = 0.0
    lease_s: int = 0
    """The lease the hub granted at the last verification."""
    expires_at: float = 0.0
    error: str = ""

    @classmethod
    def new(cls, feed_url: str, hub: str, topic: str, *, callback_base: str) -> Subscription:
        """A subscription not yet requested, with a fresh id (its callback's last path
        segment: a capability URL, one per subscription) and a fresh secret."""
        sub_id = secrets.token_urlsafe(24)
        return cls(
            id=sub_id,
            feed_url=feed_url,
            hub=hub,
            topic=topic,
            callback=callback_url(callback_base, sub_id),
            secret=secrets.token_hex(32),
        )

    def to_fields(self) -> dict[str, str]:
        """The record as a Redis hash."""
        return {f.name: str(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_fields(cls, raw: Mapping[Any, Any]) -> Subscription | None:
        """A record read from Redis; None when empty or not one (logged by the caller)."""
        fields = {_text(k): _text(v) for k, v in raw.items()}
        try:
            return msgspec.convert(fields, cls, strict=False) if fields else None
        except msgspec.ValidationError:
            return None


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def callback_url(base: str, subscription_id: str) -> str:
    """``websub.callback_url`` with the subscription's id as one more path segment."""
    parts = urlsplit(base)
    path = parts.path.rstrip("/") + "/" + subscription_id
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def subscription_id(path: str) -> str | None:
    """The subscription id a callback request's path ends with, or None if it has none."""
    last = path.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
    return last if _ID.fullmatch(last) else None


def next_action(
    sub: Subscription | None, declared: tuple[str, str] | None, *, callback_base: str, now: float
) -> Action:
    """What a feed's subscription needs now.

    ``declared`` is the (hub, topic) the feed declares, None when it declares none, is
    disabled or was removed. A subscription to another hub or topic, or with another
    callback base, is left (unsubscribed) first; a denied one is never asked again for the
    same hub and topic.
    """
    if sub is None:
        return "subscribe" if declared is not None else ""
    same = declared == (sub.hub, sub.topic) and sub.callback == callback_url(callback_base, sub.id)
    if sub.state == "denied":
        return "" if same else "forget"
    if not same:
        return "unsubscribe"
    return "subscribe" if now >= sub.next_at else ""


def requested(sub: Subscription, *, now: float) -> Subscription:
    """The subscription once a (re)subscription request is about to be sent."""
    attempts = sub.attempts + 1
    return dataclasses.replace(
        sub, attempts=attempts, requested_at=now, next_at=now + retry_delay_s(attempts)
    )


def retry_delay_s(attempts: int) -> float:
    """How long to wait for a verification before sending the request again."""
    return float(min(RETRY_BASE_S * 2 ** min(attempts - 1, 20), 86400.0))


def renew_at(expires_at: float, lease_s: int, renew_before_s: float) -> float:
    """When to renew a lease ending at ``expires_at``: ``renew_before_s`` before its end,
    but at least a tenth of the lease and at most half of it before."""
    margin = max(lease_s / 10, min(renew_before_s, lease_s / 2))
    return expires_at - margin


def leaving(sub: Subscription) -> Subscription:
    """The subscription once it is being unsubscribed."""
    return dataclasses.replace(sub, state="leaving", error="")


# ------------------------------------------------------------------ the hub's requests


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """The answer to a hub's GET on a callback, and what it does to the subscription."""

    status: int
    body: bytes = b""
    record: Subscription | None = None
    """The subscription's new state (None: unchanged)."""
    forget: bool = False
    """Delete the subscription."""
    note: str = ""
    """What happened, for the log."""


def answer_intent(
    sub: Subscription | None,
    query: Mapping[str, str],
    *,
    now: float,
    settings: WebSubSettings,
) -> Verdict:
    """The answer to an intent verification or a denial (WebSub 5.2, 5.3).

    A verification is confirmed (2xx echoing ``hub.challenge``) only for the callback's own
    subscription, its topic, and what we want of it (subscribe while requested or active,
    unsubscribe while leaving); anything else is refused with 404. A denial of that
    subscription and topic marks it denied.
    """
    mode = query.get("hub.mode", "")
    if mode not in ("subscribe", "unsubscribe", "denied"):
        return Verdict(status=400, body=b"not a WebSub request", note=f"mode {mode[:20]!r}")
    if sub is None:
        return Verdict(status=404, note="no such subscription")
    if not same_topic(query.get("hub.topic", ""), sub.topic):
        return Verdict(status=404, note="topic does not match the subscription's")
    if mode == "denied":
        return _denied(sub, query.get("hub.reason", ""))
    challenge = query.get("hub.challenge", "")
    if not challenge:
        return Verdict(status=404, note="no hub.challenge")
    body = challenge.encode("utf-8", "surrogateescape")
    if mode == "unsubscribe":
        if sub.state != "leaving":
            return Verdict(status=404, note=f"unsubscribe not wanted ({sub.state})")
        return Verdict(status=200, body=body, forget=True, note="unsubscribed")
    if sub.state not in ("requested", "active"):
        return Verdict(status=404, note=f"subscribe not wanted ({sub.state})")
    lease_s = _lease_s(query.get("hub.lease_seconds", ""), settings.lease_s)
    record = verified(sub, lease_s=lease_s, now=now, renew_before_s=settings.renew_before_s)
    return Verdict(status=200, body=body, record=record, note=f"verified, lease {lease_s} s")


def verified(sub: Subscription, *, lease_s: int, now: float, renew_before_s: float) -> Subscription:
    """The subscription once the hub verified it with a lease of ``lease_s``."""
    expires_at = now + lease_s
    return dataclasses.replace(
        sub,
        state="active",
        attempts=0,
        verified_at=now,
        lease_s=lease_s,
        expires_at=expires_at,
        next_at=renew_at(expires_at, lease_s, renew_before_s),
        error="",
    )


def _denied(sub: Subscription, reason: str) -> Verdict:
    if sub.state == "leaving":
        return Verdict(status=200, forget=True, note="denied while leaving")
    reason = " ".join(reason.split())[:300]
    record = dataclasses.replace(sub, state="denied", error=f"denied by the hub: {reason}")
    return Verdict(status=200, record=record, note=f"denied: {reason}")


def _lease_s(value: str, requested_s: int) -> int:
    """The granted lease; the one we asked for when the hub gives none we can read."""
    value = value.strip()
    if value.isascii() and value.isdigit() and 0 < int(value) <= MAX_LEASE_S:
        return int(value)
    return requested_s


_UNRESERVED_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def same_topic(given: str, topic: str) -> bool:
    """Whether a hub's ``hub.topic`` is our topic URL: the same, once percent-encoded
    unreserved characters are decoded (hubs must decode them) and escapes upper-cased."""
    return bool(given) and _normal_escapes(given) == _normal_escapes(topic)


def _normal_escapes(url: str) -> str:
    def one(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else match.group(0).upper()

    return _UNRESERVED_ESCAPE.sub(one, url)


SIGNATURE_ALGORITHMS: Mapping[str, Callable[[], Any]] = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha384": hashlib.sha384,
    "sha512": hashlib.sha512,
}
"""The algorithm names of ``X-Hub-Signature`` the Recommendation recognizes (7.1)."""


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``X-Hub-Signature: <method>=<hex>`` is the HMAC of ``body`` under ``secret``.

    False when the header is missing, malformed or names another method; the digests
    are compared in constant time.
    """
    if not header or not secret:
        return False
    method, sep, given = header.strip().partition("=")
    algorithm = SIGNATURE_ALGORITHMS.get(method.strip().lower())
    if not sep or algorithm is None:
        return False
    expected = hmac.new(secret.encode(), body, algorithm).hexdigest().encode()
    return hmac.compare_digest(expected, given.strip().lower().encode("utf-8", "replace"))


PushDecision = Literal["accept", "no_subscription", "unsigned", "bad_signature"]


def judge_push(sub: Subscription | None, body: bytes, signature: str | None) -> PushDecision:
    """Whether pushed content is taken: only for an active subscription, signed with its
    secret. Unsigned or badly signed content is still answered 2xx, and ignored (7.4)."""
    if sub is None or sub.state != "active":
        return "no_subscription"
    if not signature:
        return "unsigned"
    return "accept" if signature_valid(sub.secret, body, signature) else "bad_signature"
