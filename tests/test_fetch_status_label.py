"""The fetch counter's ``status`` label: the HTTP status whenever the origin answered with
one (a 404 is "404", not the drop reason), the error reason only when there was none."""

from __future__ import annotations

import pytest
import redis

from pipeline.errors import FetchRefused, UpstreamUnavailable
from pipeline.local.site import LocalSite, send_body
from pipeline.models import FeedEntry
from pipeline.process import Hooks, Services, process_entry
from pipeline.settings import Settings


class Recorder(Hooks):
    def __init__(self) -> None:
        self.fetches: list[tuple[str, str]] = []

    def fetched(self, host: str, status: str) -> None:
        self.fetches.append((host, status))


@pytest.mark.parametrize(
    ("status", "error"), [(404, FetchRefused), (410, FetchRefused), (503, UpstreamUnavailable)]
)
def test_an_http_error_status_is_counted_as_that_status(
    redis_client: redis.Redis,
    settings: Settings,
    fixture_site: LocalSite,
    status: int,
    error: type[Exception],
) -> None:
    fixture_site.routes["/gone"] = lambda request: send_body(request, status, b"no", "text/html")
    hooks = Recorder()
    services = Services.build(settings, redis_client, hooks)
    try:
        with pytest.raises(error) as raised:
            process_entry(FeedEntry(url=fixture_site.url("/gone"), feed_url=""), services)
    finally:
        services.fetcher.close()
    assert getattr(raised.value, "status", None) == status
    assert [s for _, s in hooks.fetches] == [str(status)]


def test_a_refusal_without_a_status_is_counted_by_its_reason(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite
) -> None:
    fixture_site.routes["/binary"] = lambda request: send_body(
        request, 200, b"\x00\x01", "application/octet-stream"
    )
    hooks = Recorder()
    services = Services.build(settings, redis_client, hooks)
    try:
        with pytest.raises(FetchRefused):
            process_entry(FeedEntry(url=fixture_site.url("/binary"), feed_url=""), services)
    finally:
        services.fetcher.close()
    assert [s for _, s in hooks.fetches] == ["fetch_refused"]
