"""One in-process poll of a feed, for the poll and sitemap tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import redis

from pipeline.fetch import Fetcher
from pipeline.models import FeedEntry
from pipeline.politeness import HostGate
from pipeline.poll import PollResult, poll_feed
from pipeline.settings import FeedConfig, Settings


def poll_in_process(
    feed: FeedConfig,
    client: redis.Redis,
    settings: Settings,
    enqueue: Callable[[Sequence[FeedEntry]], None],
) -> PollResult:
    """One poll of ``feed`` in this process, with a fresh Fetcher (closed afterwards)."""
    fetcher = Fetcher(settings.fetch)
    try:
        return poll_feed(
            feed,
            fetcher=fetcher,
            client=client,
            settings=settings,
            enqueue=enqueue,
            gate=HostGate(client, settings.fetch),
        )
    finally:
        fetcher.close()
