"""bench.poll_site: the feeds ``newsflow bench poll`` serves (pure parts)."""

from __future__ import annotations

from bench.poll_site import Rounds, feed_kind
from pipeline.polling.feeds import parse_feed

BASE = "http://127.0.0.1:1"


def test_the_mix_is_mostly_unchanged_feeds() -> None:
    kinds = [feed_kind(i) for i in range(1000)]
    assert (kinds.count("unchanged"), kinds.count("new"), kinds.count("error")) == (850, 100, 50)


def test_only_the_changing_feeds_change_between_rounds() -> None:
    rounds = Rounds(new_per_feed=3)
    unchanged, new = rounds.document(BASE, 0), rounds.document(BASE, 1)
    rounds.advance()
    assert rounds.document(BASE, 0) == unchanged
    body, etag = rounds.document(BASE, 1)
    assert etag != new[1]
    before = {e.url for e in parse_feed(new[0], BASE + "/f/1.xml", max_entries=500).entries}
    after = {e.url for e in parse_feed(body, BASE + "/f/1.xml", max_entries=500).entries}
    assert len(after - before) == 3
