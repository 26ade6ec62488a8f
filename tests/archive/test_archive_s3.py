"""The archive in an S3-compatible bucket: moto's server on 127.0.0.1 stands in for S3 or
MinIO (never the internet)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from moto.server import ThreadedMotoServer

from pipeline.archive.store import Store
from pipeline.archive.warc import Produced, read_pages
from pipeline.archive.writer import ArchiveWriter, prune
from pipeline.models import FeedEntry
from pipeline.settings import ArchiveSettings
from tests.archive.test_archive import T0, make_page


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def test_pages_go_to_a_new_bucket_rotate_and_are_pruned(s3_endpoint: str) -> None:
    settings = ArchiveSettings(
        url="s3://news-archive/warc", endpoint_url=s3_endpoint, max_file_bytes=2000
    )
    store = Store.of(settings, "unused")
    assert not store.local
    writer = ArchiveWriter(store, settings, clock=lambda: T0)
    for n in range(5):
        assert writer.write(
            make_page(n), FeedEntry(url=f"http://x.test/{n}"), Produced(outcome="published")
        )
    writer.close()

    files = store.files()
    assert len(files) >= 2 and all(f.name.startswith("2026/11/30/") for f in files)
    urls = []
    for f in files:
        with store.open(f.name) as fh:
            urls += [p.page.url for p in read_pages(fh, f.name)]
    assert urls == [f"http://example.test/a/{n}" for n in range(5)]

    pruned = prune(store, ArchiveSettings(max_total_bytes=files[-1].size), T0)
    assert len(pruned) == len(files) - 1
    assert [f.name for f in store.files()] == [files[-1].name]
