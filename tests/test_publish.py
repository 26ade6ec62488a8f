"""Publishing against a real Redis: exactly one outcome per entry, atomically."""

from __future__ import annotations

import json
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis

from pipeline import keys
from pipeline.dedupe import url_id
from pipeline.models import FeedEntry, OutcomeKind
from pipeline.publish import (
    Publisher,
    RecordedOutcome,
    decode_body,
    outcome_value,
    parse_outcome,
    recorded_outcome,
)
from pipeline.schemas import schema_text
from pipeline.settings import Settings
from tests.factories import entry_for, make_article

SCHEMA = json.loads(schema_text(1))


def test_publish_writes_one_entry_even_when_run_five_times(
    redis_client: redis.Redis, settings: Settings
) -> None:
    publisher = Publisher(redis_client, settings)
    url = "https://example.com/a"
    outcomes = [publisher.publish_article(make_article(url), entry_for(url)) for _ in range(5)]
    assert outcomes[0].kind is OutcomeKind.PUBLISHED
    assert {o.kind for o in outcomes[1:]} == {OutcomeKind.ALREADY}
    assert redis_client.xlen(keys.ARTICLES_STREAM) == 1
    assert redis_client.hgetall(keys.OUTCOME_COUNTS) == {b"published": b"1"}


def test_stream_entry_follows_contract_v1(redis_client: redis.Redis, settings: Settings) -> None:
    url = "https://example.com/a"
    Publisher(redis_client, settings).publish_article(make_article(url), entry_for(url))
    [(_, fields)] = redis_client.xrange(keys.ARTICLES_STREAM)
    assert set(fields) == {b"id", b"type", b"schema", b"body"}
    assert fields[b"type"] == b"article" and fields[b"schema"] == b"1"
    body = decode_body(fields[b"body"])
    assert fields[b"id"].decode() == body["id"] == url_id(url)
    assert set(SCHEMA["properties"]["body"]["required"]) <= set(body)
    assert body["published_at"] == "2026-11-01T12:00:00Z"


def test_same_text_at_another_url_is_a_recorded_duplicate(
    redis_client: redis.Redis, settings: Settings
) -> None:
    publisher = Publisher(redis_client, settings)
    first, copy = "https://example.com/a", "https://mirror.example.org/b"
    publisher.publish_article(make_article(first), entry_for(first))
    outcome = publisher.publish_article(make_article(copy), entry_for(copy))
    assert outcome.kind is OutcomeKind.DUPLICATE and outcome.ref == url_id(first)
    [(_, event)] = redis_client.xrange(keys.EVENTS_STREAM)
    assert event[b"type"] == b"duplicate" and event[b"match"] == b"content"
    assert event[b"duplicate_of"].decode() == url_id(first)
    assert redis_client.xlen(keys.ARTICLES_STREAM) == 1


def test_entry_whose_page_declares_a_published_canonical_is_a_duplicate(
    redis_client: redis.Redis, settings: Settings
) -> None:
    publisher = Publisher(redis_client, settings)
    canonical = "https://example.com/story"
    publisher.publish_article(make_article(canonical), entry_for(canonical))
    alias = "https://example.com/story-amp"
    outcome = publisher.publish_article(
        make_article(canonical, text="other words " * 30), entry_for(alias)
    )
    assert outcome.kind is OutcomeKind.DUPLICATE
    [(_, event)] = redis_client.xrange(keys.EVENTS_STREAM)
    assert event[b"match"] == b"canonical_url"


def test_record_outcome_once_per_entry(redis_client: redis.Redis, settings: Settings) -> None:
    publisher = Publisher(redis_client, settings)
    entry = entry_for("https://example.com/gone")
    first = publisher.record_outcome(entry, OutcomeKind.DROPPED, "fetch_refused", "HTTP 404")
    again = publisher.record_outcome(entry, OutcomeKind.DEAD, "fetch_timeout", "slow")
    assert first.kind is OutcomeKind.DROPPED and again.kind is OutcomeKind.ALREADY
    [(_, event)] = redis_client.xrange(keys.EVENTS_STREAM)
    assert event[b"reason"] == b"fetch_refused" and event[b"error"] == b"HTTP 404"
    assert redis_client.xlen(keys.DEAD_STREAM) == 0
    late = publisher.publish_article(make_article(entry.url), entry)
    assert late.kind is OutcomeKind.ALREADY
    assert redis_client.xlen(keys.ARTICLES_STREAM) == 0


def test_dead_letters_go_to_the_dead_stream(redis_client: redis.Redis, settings: Settings) -> None:
    publisher = Publisher(redis_client, settings)
    entry = entry_for("https://example.com/slow")
    publisher.record_outcome(entry, OutcomeKind.DEAD, "fetch_timeout", "timed out", attempts=6)
    [(_, dead)] = redis_client.xrange(keys.DEAD_STREAM)
    assert dead[b"attempts"] == b"6" and dead[b"id"].decode() == url_id(entry.url)
    assert json.loads(dead[b"entry"])["url"] == entry.url


STORY = json.loads(
    (Path(__file__).resolve().parent / "fixtures" / "golden" / "sample-tram-line.json").read_text(
        encoding="utf-8"
    )
)["text"]


def test_truncated_copy_elsewhere_is_a_near_duplicate(
    redis_client: redis.Redis, settings: Settings
) -> None:
    publisher = Publisher(redis_client, settings)
    first, copy = "https://example.com/tram", "https://wire.example.org/tram-copy"
    publisher.publish_article(make_article(first, text=STORY), entry_for(first))
    cut = "\n\n".join(STORY.split("\n\n")[:4]) + "\n\nSubscribe to our newsletter."
    outcome = publisher.publish_article(make_article(copy, text=cut), entry_for(copy))
    assert outcome.kind is OutcomeKind.DUPLICATE and outcome.ref == url_id(first)
    [(_, event)] = redis_client.xrange(keys.EVENTS_STREAM)
    assert event[b"match"] == b"near_duplicate" and float(event[b"similarity"]) >= 0.9


def test_two_workers_racing_on_one_story_publish_it_once(
    redis_client: redis.Redis, settings: Settings
) -> None:
    urls = [f"https://outlet{i}.example/story" for i in range(8)]
    texts = [f"Outlet {i} says.\n\n{STORY}" for i in range(8)]
    barrier = threading.Barrier(8)

    def publish(i: int) -> OutcomeKind:
        client = redis.Redis(connection_pool=redis_client.connection_pool)
        barrier.wait()
        return (
            Publisher(client, settings)
            .publish_article(make_article(urls[i], text=texts[i]), entry_for(urls[i]))
            .kind
        )

    with ThreadPoolExecutor(8) as pool:
        kinds = list(pool.map(publish, range(8)))
    assert kinds.count(OutcomeKind.PUBLISHED) == 1 and kinds.count(OutcomeKind.DUPLICATE) == 7
    assert redis_client.xlen(keys.ARTICLES_STREAM) == 1


def test_changed_page_publishes_a_new_version_once(
    redis_client: redis.Redis, settings: Settings
) -> None:
    publisher = Publisher(redis_client, settings)
    url = "https://example.com/live"
    entry = FeedEntry(url=url, feed_url="https://example.com/feed", update=True)
    publisher.publish_article(make_article(url, text=STORY), entry_for(url))
    changed = make_article(url, text=STORY + "\n\nUpdate: the line reopened on Sunday.")
    first = publisher.publish_update(changed, entry)
    again = publisher.publish_update(changed, entry)
    assert first.kind is OutcomeKind.UPDATED and again.kind is OutcomeKind.UNCHANGED
    entries = redis_client.xrange(keys.ARTICLES_STREAM)
    assert len(entries) == 2
    fields = entries[1][1]
    assert fields[b"type"] == b"article.updated" and fields[b"version"] == b"2"
    assert fields[b"changed"] == b"text" and fields[b"id"] == entries[0][1][b"id"]
    retitled = changed.replace(title="A new title")
    assert publisher.publish_update(retitled, entry).kind is OutcomeKind.UPDATED
    assert redis_client.xrange(keys.ARTICLES_STREAM)[-1][1][b"changed"] == b"title"
    unknown = publisher.publish_update(
        make_article("https://example.com/new"), entry_for("https://example.com/new")
    )
    assert unknown.kind is OutcomeKind.PUBLISHED


def test_outcome_values_written_by_lua_read_back_in_python(
    redis_client: redis.Redis, settings: Settings
) -> None:
    """outcome.lua and publish.outcome_value/parse_outcome are one format."""
    publisher = Publisher(redis_client, settings)
    url, other = "https://example.com/a", "https://example.com/b"
    publisher.publish_article(make_article(url), entry_for(url))
    [(stream_id, _)] = redis_client.xrange(keys.ARTICLES_STREAM)
    published = parse_outcome(recorded_outcome(redis_client, url) or "")
    assert published == RecordedOutcome("published", url_id(url), stream_id.decode())
    publisher.record_outcome(entry_for(other), OutcomeKind.DEAD, "fetch_timeout")
    dead = recorded_outcome(redis_client, other)
    assert dead == outcome_value("dead", "fetch_timeout")
    assert parse_outcome(dead) == RecordedOutcome("dead", "fetch_timeout")


def test_stream_entries_validate_against_every_keyword_of_the_schema(
    redis_client: redis.Redis, settings: Settings
) -> None:
    """Caps, patterns and formats too (issue #15): a plain article, and one whose fields are
    hostile once assembly's last step (published_form) has been through them."""
    from pipeline.article.sanitize import published_form
    from tests.article.schema_check import errors

    iri = 'https://bücher.example/é a"b?x=%20'
    hostile = make_article(iri).replace(
        url=iri,
        canonical_url=iri,
        feed_url=f"{iri}/feed",
        title="Title\x1b[2J\x1b]0;owned\x07 \u202eevil",
        description="word " * 200_000,
        authors=tuple(f"Writer\x9b {n}" for n in "ABCDEFGHIJKLMNOP"),
        image="data:image/png;base64,AAAA",
        text="First\x00 paragraph.\n\nSecond\x1b paragraph.",
    )
    publisher = Publisher(redis_client, settings)
    url = "https://example.com/a"
    publisher.publish_article(make_article(url), entry_for(url))
    publisher.publish_article(published_form(hostile), entry_for(iri))
    entries = redis_client.xrange(keys.ARTICLES_STREAM)
    assert len(entries) == 2
    for _, fields in entries:
        entry: dict[str, object] = {k.decode(): v.decode() for k, v in fields.items()}
        entry["body"] = decode_body(fields[b"body"])
        assert errors(entry) == []
    body = decode_body(entries[1][1][b"body"])
    assert body["url"] == "https://xn--bcher-kva.example/%C3%A9%20a%22b?x=%20"
    assert body["title"] == "Title[2J]0;owned evil" and body["image"] == ""
    assert body["text"] == "First paragraph.\n\nSecond paragraph."


def _prose(seed: int, words: int) -> str:
    """Distinct prose: paragraphs of 40 words that no other seed shares."""
    rng = random.Random(seed)
    vocabulary = [f"{w}{seed % 97}" for w in ("river", "council", "vote", "harbour", "plan")]
    vocabulary += [f"w{rng.randrange(10**6)}" for _ in range(400)]
    tokens = [rng.choice(vocabulary) for _ in range(words)]
    return "\n\n".join(" ".join(tokens[i : i + 40]) + "." for i in range(0, words, 40))


def _stream(client: redis.Redis, stream: str = keys.ARTICLES_STREAM) -> list[dict[str, str]]:
    return [
        {k.decode(): v.decode() for k, v in fields.items()} for _, fields in client.xrange(stream)
    ]


def test_fuller_copy_arriving_later_publishes_a_new_version_of_the_story(
    redis_client: redis.Redis, settings: Settings
) -> None:
    publisher = Publisher(redis_client, settings)
    full = _prose(1, 600)
    first, later = "https://example.com/cut", "https://mirror.example.org/full"
    cut = make_article(first, text=" ".join(full.split(" ")[:420]))
    assert publisher.publish_article(cut, entry_for(first)).kind is OutcomeKind.PUBLISHED
    outcome = publisher.publish_article(make_article(later, text=full), entry_for(later))
    assert (outcome.kind, outcome.ref) == (OutcomeKind.DUPLICATE, cut.id)
    article, update = _stream(redis_client)
    assert update["type"] == "article.updated" and update["id"] == cut.id
    assert (update["version"], update["changed"]) == ("2", "text")
    assert update["superseded_by"] == later
    assert json.loads(update["sources"]) == [first, later]
    body = decode_body(update["body"])
    assert body["id"] == cut.id and body["text"] == full and body["url"] == later
    [event] = _stream(redis_client, keys.EVENTS_STREAM)
    assert event["duplicate_of"] == cut.id and event["update"]
    # the fuller version is now the story: the cut copy again, or the full one, changes nothing
    for n, text in enumerate((cut.text, full)):
        url = f"https://third.example.net/{n}"
        again = publisher.publish_article(make_article(url, text=text), entry_for(url))
        assert (again.kind, again.ref) == (OutcomeKind.DUPLICATE, cut.id)
    assert redis_client.xlen(keys.ARTICLES_STREAM) == 2
    assert redis_client.hgetall(keys.OUTCOME_COUNTS) == {
        b"published": b"1",
        b"duplicate": b"3",
        b"updated": b"1",
    }


def test_same_text_with_more_metadata_is_a_new_version_once(
    redis_client: redis.Redis, settings: Settings
) -> None:
    publisher = Publisher(redis_client, settings)
    text = _prose(2, 300)
    bare = make_article("https://example.com/a", text=text).replace(authors=(), published_at=None)
    rich = make_article("https://example.org/b", text=text).replace(image="https://x.org/i.jpg")
    publisher.publish_article(bare, entry_for(bare.url))
    publisher.publish_article(rich, entry_for(rich.url))
    publisher.publish_article(bare.replace(url="https://e.net/c"), entry_for("https://e.net/c"))
    article, update = _stream(redis_client)
    assert update["id"] == bare.id and update["changed"] == "authors,published_at"
    assert redis_client.xlen(keys.ARTICLES_STREAM) == 2


def test_short_copy_contained_in_a_story_is_a_duplicate_but_short_items_stay_apart(
    redis_client: redis.Redis, settings: Settings
) -> None:
    publisher = Publisher(redis_client, settings)
    story = make_article("https://example.com/story", text=_prose(3, 800))
    publisher.publish_article(story, entry_for(story.url))
    teaser = make_article("https://t.example.org/1", text=" ".join(story.text.split()[:40]))
    outcome = publisher.publish_article(teaser, entry_for(teaser.url))
    assert (outcome.kind, outcome.ref) == (OutcomeKind.DUPLICATE, story.id)
    # two short recaps sharing one template line are two articles
    template = "Technology provided by Example Sports Data Services and its partners worldwide."
    for n in range(4, 8):
        url = f"https://sports.example.com/{n}"
        recap = make_article(url, text=f"{' '.join(_prose(n, 30).split())}\n\n{template}")
        assert publisher.publish_article(recap, entry_for(url)).kind is OutcomeKind.PUBLISHED


def test_near_duplicate_index_is_two_bucket_hashes_with_expiry(
    redis_client: redis.Redis, settings: Settings
) -> None:
    publisher = Publisher(redis_client, settings)
    redis_client.set(keys.near_duplicate_anchor("0123456789abcdef"), "old:3", ex=60)  # pre-#19
    for n in range(20):
        url = f"https://example.com/{n}"
        publisher.publish_article(make_article(url, text=_prose(100 + n, 500)), entry_for(url))
    buckets = list(redis_client.scan_iter(match="newsflow:ndb:*"))
    assert len(buckets) == 1 and redis_client.type(buckets[0]) == b"hash"
    assert 0 < redis_client.ttl(buckets[0]) <= 2 * settings.dedupe_ttl_s
    assert redis_client.hlen(buckets[0]) <= 20 * 22
    assert redis_client.get(keys.near_duplicate_anchor("0123456789abcdef")) == b"old:3"


def test_better_copy_run_twice_publishes_its_version_once(
    redis_client: redis.Redis, settings: Settings
) -> None:
    publisher = Publisher(redis_client, settings)
    full = _prose(9, 500)
    cut = make_article("https://example.com/a", text=" ".join(full.split(" ")[:300]))
    better = make_article("https://example.org/b", text=full)
    publisher.publish_article(cut, entry_for(cut.url))
    kinds = [publisher.publish_article(better, entry_for(better.url)).kind for _ in range(3)]
    assert kinds == [OutcomeKind.DUPLICATE, OutcomeKind.ALREADY, OutcomeKind.ALREADY]
    assert [e["type"] for e in _stream(redis_client)] == ["article", "article.updated"]
