"""WebSub's rules: discovery (Link headers, the document's links), signatures, intent
verification, renewal timing, the subscription record, the poll floor (pure, then read from
the test Redis), the settings."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import time
from typing import Any

import pytest
import redis

from pipeline import keys
from pipeline.errors import ConfigError
from pipeline.polling.feeds import ParsedFeed
from pipeline.polling.subscription import (
    Subscription,
    Verdict,
    answer_intent,
    callback_url,
    judge_push,
    next_action,
    renew_at,
    requested,
    retry_delay_s,
    same_topic,
    signature_valid,
    subscription_id,
)
from pipeline.polling.websub import (
    declared_hub,
    live_floor_s,
    mark_listening,
    parse_link_header,
    poll_floor_s,
)
from pipeline.settings import Settings, WebSubSettings, bind_address
from tests.commands import ROOT

FEED = "https://news.example/feeds/main.xml"


def _parsed(hubs: tuple[str, ...] = (), self_url: str = "") -> ParsedFeed:
    return ParsedFeed(title="t", entries=(), skipped=0, hubs=hubs, self_url=self_url)


# ------------------------------------------------------------------ Link header parsing


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("<https://hub.example/>; rel=hub", [("https://hub.example/", {"hub"})]),
        ('<https://hub.example/>; rel="hub"', [("https://hub.example/", {"hub"})]),
        (
            '<https://hub.example/>; rel="hub", <https://news.example/feed>; rel="self"',
            [("https://hub.example/", {"hub"}), ("https://news.example/feed", {"self"})],
        ),
        # a quoted list of relation types, any case, odd spacing
        (
            '< https://a.example/x >;REL = "Self  alternate" ;type="application/atom+xml"',
            [("https://a.example/x", {"self", "alternate"})],
        ),
        # commas and semicolons inside the target and inside quoted parameters
        (
            '<https://h.example/a,b;c>; title="x, y; z"; rel="hub", <https://s.example/>; rel=self',
            [("https://h.example/a,b;c", {"hub"}), ("https://s.example/", {"self"})],
        ),
        # only the first rel of a link-value counts (RFC 8288, 3.3)
        ('<https://h.example/>; rel="self"; rel="hub"', [("https://h.example/", {"self"})]),
        # an escaped quote inside a quoted value
        (r'<https://h.example/>; title="a \"q\", b"; rel=hub', [("https://h.example/", {"hub"})]),
        # no rel at all, and a malformed link-value between two good ones
        (
            "<https://a.example/>, garbage; rel=hub, <https://b.example/>; rel=hub",
            [("https://a.example/", set()), ("https://b.example/", {"hub"})],
        ),
        ("", []),
        ("not a link header", []),
        ("<https://unterminated.example/; rel=hub", []),
    ],
)
def test_link_header_is_parsed(header: str, expected: list[tuple[str, set[str]]]) -> None:
    assert [(t, set(r)) for t, r in parse_link_header(header)] == expected


# ------------------------------------------------------------------ declared_hub


def test_no_hub_anywhere_is_none() -> None:
    assert declared_hub(_parsed(self_url=FEED), {"link": '<x>; rel="self"'}, FEED) is None


def test_document_hub_with_its_self_url() -> None:
    parsed = _parsed(hubs=("https://hub.example/",), self_url="https://news.example/canonical")
    assert declared_hub(parsed, {}, FEED) == (
        "https://hub.example/",
        "https://news.example/canonical",
    )


def test_topic_is_the_feed_url_without_a_self_link() -> None:
    assert declared_hub(_parsed(hubs=("https://hub.example/",)), {}, FEED) == (
        "https://hub.example/",
        FEED,
    )


def test_link_header_comes_first() -> None:
    """Discovery checks the HTTP Link headers first (WebSub, section 4)."""
    parsed = _parsed(hubs=("https://doc-hub.example/",), self_url="https://news.example/doc-self")
    headers = {
        "link": '<https://header-hub.example/>; rel="hub", </feeds/self.xml>; rel="self"',
    }
    assert declared_hub(parsed, headers, FEED) == (
        "https://header-hub.example/",
        "https://news.example/feeds/self.xml",  # relative to the feed URL
    )


def test_header_hub_takes_the_document_self_when_the_header_has_none() -> None:
    parsed = _parsed(self_url="https://news.example/doc-self")
    headers = {"Link": "<https://header-hub.example/>; rel=hub"}  # any case of the name
    assert declared_hub(parsed, headers, FEED) == (
        "https://header-hub.example/",
        "https://news.example/doc-self",
    )


def test_first_usable_hub_is_taken() -> None:
    parsed = _parsed(hubs=("ftp://hub.example/", "javascript:alert(1)", "https://ok.example/h"))
    assert declared_hub(parsed, {}, FEED) == ("https://ok.example/h", FEED)
    headers = {"link": '<mailto:a@b>; rel="hub", <https://h2.example/>; rel="hub other"'}
    assert declared_hub(_parsed(), headers, FEED) == ("https://h2.example/", FEED)


@pytest.mark.parametrize(
    "hub",
    [
        "https://bad port.example/",
        "http://[::1/",
        "https://h.example:99999/",
        "https://" + "a" * 2100 + ".example/",
        "https://h.example/\x00",
        "",
    ],
)
def test_unusable_hub_urls_are_ignored(hub: str) -> None:
    assert declared_hub(_parsed(hubs=(hub,)), {}, FEED) is None


def test_fragment_is_dropped() -> None:
    parsed = _parsed(hubs=("https://hub.example/#x",), self_url="https://news.example/f#top")
    assert declared_hub(parsed, {}, FEED) == ("https://hub.example/", "https://news.example/f")


# ------------------------------------------------------------------ signatures

SECRET = "s3cret-of-the-subscription"
BODY = b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title></feed>'


def _sign(algorithm: str, body: bytes = BODY, secret: str = SECRET) -> str:
    return f"{algorithm}={hmac.new(secret.encode(), body, algorithm).hexdigest()}"


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha384", "sha512"])
def test_each_recognized_algorithm_is_checked(algorithm: str) -> None:
    assert signature_valid(SECRET, BODY, _sign(algorithm))
    assert not signature_valid(SECRET, BODY + b" ", _sign(algorithm))
    assert not signature_valid("another secret", BODY, _sign(algorithm))
    method, _, hexdigest = _sign(algorithm).partition("=")
    assert signature_valid(SECRET, BODY, f" {method.upper()}={hexdigest.upper()} ")


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256",
        "sha256=",
        "=abc",
        "md5=" + hashlib.md5(BODY).hexdigest(),
        "sha256=" + "0" * 64,
        "sha256=zz",
        "sha256=é" + "0" * 63,  # not ASCII: no TypeError from compare_digest
    ],
)
def test_bad_signatures_are_refused(header: str | None) -> None:
    assert not signature_valid(SECRET, BODY, header)


def test_no_secret_accepts_nothing() -> None:
    assert not signature_valid("", BODY, _sign("sha256", secret=""))


def test_digests_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison is hmac.compare_digest's, never ==: a pure unit test watches it."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def watched(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", watched)  # as subscription.py calls it
    assert signature_valid(SECRET, BODY, _sign("sha256"))
    assert not signature_valid(SECRET, BODY, "sha256=" + "0" * 64)
    assert len(calls) == 2
    assert calls[1][1] == b"0" * 64


def _active(**changes: Any) -> Subscription:
    sub = Subscription.new(FEED, "https://hub.example/", FEED, callback_base=CALLBACK_BASE)
    return dataclasses.replace(sub, **{"state": "active", **changes})


CALLBACK_BASE = "https://me.example/websub"


def test_pushed_content_is_taken_only_signed_for_an_active_subscription() -> None:
    sub = _active()
    signed = f"sha512={hmac.new(sub.secret.encode(), BODY, 'sha512').hexdigest()}"
    assert judge_push(sub, BODY, signed) == "accept"
    assert judge_push(sub, BODY, None) == "unsigned"
    assert judge_push(sub, BODY, "") == "unsigned"
    assert judge_push(sub, BODY, _sign("sha256")) == "bad_signature"  # another secret
    assert judge_push(sub, BODY + b"x", signed) == "bad_signature"
    assert judge_push(None, BODY, signed) == "no_subscription"
    for state in ("requested", "denied", "leaving"):
        assert judge_push(dataclasses.replace(sub, state=state), BODY, signed) == (
            "no_subscription"
        )


# ------------------------------------------------------------------ intent verification

SETTINGS = WebSubSettings(callback_url=CALLBACK_BASE, lease_s=3600, renew_before_s=600)
NOW = 1_800_000_000.0


def _verify(sub: Subscription | None, **query: str) -> Verdict:
    return answer_intent(sub, query, now=NOW, settings=SETTINGS)


def _query(mode: str, topic: str = FEED, **more: str) -> dict[str, str]:
    return {"hub.mode": mode, "hub.topic": topic, "hub.challenge": "ch-4711", **more}


def test_a_requested_subscription_is_verified_with_the_granted_lease() -> None:
    sub = Subscription.new(FEED, "https://hub.example/", FEED, callback_base=CALLBACK_BASE)
    verdict = answer_intent(
        sub, _query("subscribe", **{"hub.lease_seconds": "7200"}), now=NOW, settings=SETTINGS
    )
    assert (verdict.status, verdict.body, verdict.forget) == (200, b"ch-4711", False)
    assert verdict.record is not None
    assert verdict.record.state == "active"
    assert verdict.record.lease_s == 7200
    assert verdict.record.expires_at == NOW + 7200
    assert verdict.record.next_at == NOW + 7200 - 720  # a tenth of the lease before its end


def test_an_active_subscription_is_verified_again_on_renewal() -> None:
    verdict = answer_intent(_active(attempts=2), _query("subscribe"), now=NOW, settings=SETTINGS)
    assert verdict.status == 200 and verdict.record is not None
    assert verdict.record.attempts == 0
    assert verdict.record.lease_s == 3600  # no hub.lease_seconds: the one we asked for


@pytest.mark.parametrize(
    ("sub", "query", "status"),
    [
        (None, _query("subscribe"), 404),  # no pending subscription at this callback
        (_active(), _query("subscribe", topic=FEED + "?other"), 404),  # the wrong topic
        (_active(), _query("subscribe", topic=""), 404),
        (_active(), _query("unsubscribe"), 404),  # we never asked to leave
        (_active(state="denied"), _query("subscribe"), 404),
        (_active(state="leaving"), _query("subscribe"), 404),
        (_active(), {**_query("subscribe"), "hub.challenge": ""}, 404),
        (_active(), {"hub.topic": FEED, "hub.challenge": "x"}, 400),
        (_active(), _query("publish"), 400),
    ],
)
def test_verifications_we_did_not_ask_for_are_refused(
    sub: Subscription | None, query: dict[str, str], status: int
) -> None:
    verdict = answer_intent(sub, query, now=NOW, settings=SETTINGS)
    assert verdict.status == status
    assert verdict.body in (b"", b"not a WebSub request")
    assert verdict.record is None and not verdict.forget


def test_unsubscribe_is_confirmed_only_while_leaving() -> None:
    verdict = answer_intent(
        _active(state="leaving"), _query("unsubscribe"), now=NOW, settings=SETTINGS
    )
    assert (verdict.status, verdict.body, verdict.forget) == (200, b"ch-4711", True)


def test_the_topic_matches_with_unreserved_characters_decoded() -> None:
    topic = "https://news.example/~ed/feed%2fx%7e?q=%41b"
    sub = dataclasses.replace(_active(), topic=topic)
    given = "https://news.example/%7Eed/feed%2Fx~?q=Ab"
    assert answer_intent(sub, _query("subscribe", topic=given), now=NOW, settings=SETTINGS).status
    assert same_topic(given, topic)
    assert not same_topic("https://news.example/~ed/feed/x~?q=Ab", topic)  # %2F is not /


def test_a_denial_marks_the_subscription_denied() -> None:
    query = {"hub.mode": "denied", "hub.topic": FEED, "hub.reason": "  not\nallowed "}
    verdict = answer_intent(_active(), query, now=NOW, settings=SETTINGS)
    assert verdict.status == 200 and verdict.record is not None
    assert verdict.record.state == "denied"
    assert verdict.record.error == "denied by the hub: not allowed"
    leaving = answer_intent(_active(state="leaving"), query, now=NOW, settings=SETTINGS)
    assert leaving.status == 200 and leaving.forget
    wrong = answer_intent(_active(), {**query, "hub.topic": "x"}, now=NOW, settings=SETTINGS)
    assert wrong.status == 404 and wrong.record is None


@pytest.mark.parametrize(
    ("value", "lease"),
    [("86400", 86400), ("1", 1), ("", 3600), ("-5", 3600), ("0", 3600), ("1e9", 3600)]
    + [("٣", 3600), (str(11 * 365 * 86400), 3600)],
)
def test_granted_lease(value: str, lease: int) -> None:
    query = _query("subscribe", **{"hub.lease_seconds": value})
    verdict = answer_intent(_active(), query, now=NOW, settings=SETTINGS)
    assert verdict.record is not None and verdict.record.lease_s == lease


# ------------------------------------------------------------------ renewal timing


@pytest.mark.parametrize(
    ("lease_s", "renew_before_s", "margin"),
    [
        (864_000, 86_400, 86_400),  # the defaults: a day before the end of ten days
        (864_000, 1, 86_400),  # at least a tenth of the lease before
        (3_600, 86_400, 1_800),  # at most half of it
        (3_600, 600, 600),
        (4, 2, 2),
    ],
)
def test_renewal_comes_before_the_lease_ends(
    lease_s: int, renew_before_s: int, margin: float
) -> None:
    assert renew_at(NOW + lease_s, lease_s, renew_before_s) == NOW + lease_s - margin


def test_unverified_requests_are_sent_again_later_and_later() -> None:
    assert [retry_delay_s(n) for n in (1, 2, 3, 9, 10, 100)] == [
        300.0,
        600.0,
        1200.0,
        76800.0,
        86400.0,
        86400.0,
    ]
    sub = requested(_active(attempts=1), now=NOW)
    assert (sub.attempts, sub.requested_at, sub.next_at) == (2, NOW, NOW + 600)


def test_what_a_feed_subscription_needs_next() -> None:
    hub_topic = ("https://hub.example/", FEED)
    due = _active(next_at=NOW - 1)
    later = _active(next_at=NOW + 1)

    def action(sub: Subscription | None, declared: tuple[str, str] | None) -> str:
        return next_action(sub, declared, callback_base=CALLBACK_BASE, now=NOW)

    assert action(None, hub_topic) == "subscribe"
    assert action(None, None) == ""
    assert action(later, hub_topic) == ""
    assert action(due, hub_topic) == "subscribe"  # renew, or send again
    assert action(later, ("https://other-hub.example/", FEED)) == "unsubscribe"
    assert action(later, ("https://hub.example/", FEED + "?new")) == "unsubscribe"
    assert action(later, None) == "unsubscribe"  # no hub any more, or the feed was removed
    moved = next_action(later, hub_topic, callback_base="https://new.example/ws", now=NOW)
    assert moved == "unsubscribe"
    denied = dataclasses.replace(due, state="denied")
    assert action(denied, hub_topic) == ""  # never asked again
    assert action(denied, ("https://other-hub.example/", FEED)) == "forget"
    assert action(denied, None) == "forget"


# ------------------------------------------------------------------ the record


def test_callback_urls_are_capability_urls() -> None:
    one = Subscription.new(FEED, "https://h.example/", FEED, callback_base=CALLBACK_BASE + "/")
    two = Subscription.new(FEED, "https://h.example/", FEED, callback_base=CALLBACK_BASE)
    assert one.id != two.id and one.secret != two.secret
    assert one.callback == f"{CALLBACK_BASE}/{one.id}"
    assert len(one.secret.encode()) < 200  # the Recommendation's limit on hub.secret
    assert subscription_id(f"/websub/{one.id}") == one.id
    assert subscription_id(f"/{one.id}/") == one.id
    assert callback_url("https://me.example/cb?k=v", "abc") == "https://me.example/cb/abc?k=v"
    for path in ("/", "/websub", "/websub/short", "/websub/" + "x" * 65, "/w/../etc%2fpasswd"):
        assert subscription_id(path) is None


def test_record_round_trips_through_a_redis_hash() -> None:
    sub = _active(attempts=3, next_at=NOW + 0.25, lease_s=60, expires_at=NOW + 60, error="é")
    raw = {k.encode(): v.encode() for k, v in sub.to_fields().items()}
    assert Subscription.from_fields(raw) == sub
    assert Subscription.from_fields({}) is None
    assert Subscription.from_fields({b"id": b"x"}) is None  # fields missing
    assert Subscription.from_fields({**raw, b"state": b"weird"}) is None
    assert Subscription.from_fields({**raw, b"lease_s": b"many"}) is None


# ------------------------------------------------------------------ the poll interval floor


def test_polling_slows_down_only_while_a_lease_runs() -> None:
    assert live_floor_s(NOW + 1, now=NOW, settings=SETTINGS) == SETTINGS.fallback_interval_s
    assert live_floor_s(NOW, now=NOW, settings=SETTINGS) == 0.0
    assert live_floor_s(None, now=NOW, settings=SETTINGS) == 0.0
    assert live_floor_s(NOW + 1, now=NOW, settings=WebSubSettings()) == 0.0  # WebSub off
    assert live_floor_s(NOW + 1, now=NOW, settings=SETTINGS, listening=False) == 0.0


def test_poll_floor_reads_the_lease_and_the_heartbeat(redis_client: redis.Redis) -> None:
    now = time.time()

    def floor(feed_url: str = FEED, settings: WebSubSettings = SETTINGS) -> float:
        return poll_floor_s(redis_client, feed_url, settings, now=now)

    redis_client.zadd(keys.WEBSUB_LIVE, {FEED: now + 600, "https://other.example/f": now - 1})
    assert floor() == 0.0  # no newsflow websub listening
    mark_listening(redis_client, "host-1", 30)
    assert floor() == SETTINGS.fallback_interval_s
    assert 29_000 < redis_client.pttl(keys.WEBSUB_ALIVE) <= 30_000
    assert floor("https://other.example/f") == 0.0  # its lease ended
    assert floor("https://unknown.example/f") == 0.0
    assert floor(settings=WebSubSettings()) == 0.0


# ------------------------------------------------------------------ settings


def test_websub_settings_defaults_and_errors() -> None:
    websub = Settings.load({"NEWSFLOW_CONFIG_DIR": str(ROOT / "config")}).websub
    assert websub == WebSubSettings()
    assert (websub.callback_url, websub.bind, websub.lease_s) == ("", "127.0.0.1:8085", 864000)
    assert (websub.renew_before_s, websub.fallback_interval_s) == (86400, 21600)
    assert websub.scan_interval_s == 60
    env = {
        "NEWSFLOW_CONFIG_DIR": str(ROOT / "config"),
        "NEWSFLOW_WEBSUB_CALLBACK_URL": "https://news.example.org/websub",
        "NEWSFLOW_WEBSUB_BIND": "[::]:9000",
    }
    loaded = Settings.load(env).websub
    assert (loaded.callback_url, loaded.bind) == ("https://news.example.org/websub", "[::]:9000")
    assert bind_address("[::]:9000") == ("::", 9000)
    assert bind_address("0.0.0.0:8085") == ("0.0.0.0", 8085)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CALLBACK_URL", "ftp://news.example/", "must be an http(s) URL with a host"),
        ("CALLBACK_URL", "https:///path", "must be an http(s) URL with a host"),
        ("CALLBACK_URL", "https://news.example/a b", "contains whitespace"),
        ("CALLBACK_URL", "https://news.example:99999/", "is not a URL"),
        ("CALLBACK_URL", "https://news.example/ws#frag", "must not have a fragment"),
        ("BIND", "0.0.0.0", "must be address:port"),
        ("BIND", "localhost:8085", "must be address:port"),
        ("BIND", "::1:8085", "must be address:port"),
        ("BIND", "127.0.0.1:0", "must be address:port"),
        ("BIND", "127.0.0.1:http", "must be address:port"),
        ("LEASE_S", "59", "Expected `int` >= 60"),
        ("RENEW_BEFORE_S", "0", "Expected `int` >= 1"),
        ("FALLBACK_INTERVAL_S", "soon", "Expected `int`"),
    ],
)
def test_websub_settings_are_validated(variable: str, value: str, message: str) -> None:
    name = f"NEWSFLOW_WEBSUB_{variable}"
    with pytest.raises(ConfigError) as caught:
        Settings.load({"NEWSFLOW_CONFIG_DIR": str(ROOT / "config"), name: value})
    assert str(caught.value).startswith(f"{name} (websub.{variable.lower()}): ")
    assert message in str(caught.value)
