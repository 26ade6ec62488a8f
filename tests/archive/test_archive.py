"""The raw page archive: WARC records written per process, rotated, pruned, read back; a
failure never costs the article."""

from __future__ import annotations

import gzip
import multiprocessing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

from pipeline import keys
from pipeline.archive.store import Store
from pipeline.archive.warc import ArchivedPage, Produced, read_pages
from pipeline.archive.writer import ArchiveWriter, prune
from pipeline.local.site import LocalSite
from pipeline.models import FeedEntry, Page
from pipeline.process import Hooks, Services, process_entry
from pipeline.settings import ArchiveSettings, Settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pages"
T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


class Counting(Hooks):
    def __init__(self) -> None:
        self.bytes = 0
        self.files = 0
        self.failures = 0

    def archived(self, nbytes: int, new_files: int) -> None:
        self.bytes += nbytes
        self.files += new_files

    def archive_failed(self) -> None:
        self.failures += 1


def make_page(n: int, when: datetime = T0) -> Page:
    body = f"<html><body><p>page {n} caf\u00e9</p></body></html>".encode()
    return Page(
        url=f"http://example.test/a/{n}",
        final_url=f"http://example.test/a/{n}?x=1",
        status=200,
        content_type="text/html",
        html=body.decode(),
        fetched_at=when,
        headers=(
            ("content-type", "text/html; charset=utf-8"),
            ("etag", f'"e{n}"'),
            ("content-encoding", "gzip"),
        ),
        body=body,
    )


def read_all(store: Store) -> list[ArchivedPage]:
    pages: list[ArchivedPage] = []
    for f in store.files():
        with store.open(f.name) as fh:
            pages.extend(read_pages(fh, f.name))
    return pages


def test_pages_round_trip_with_headers_fetch_time_and_article(tmp_path: Path) -> None:
    store = Store(str(tmp_path))
    hooks = Counting()
    writer = ArchiveWriter(store, ArchiveSettings(), hooks)
    entry = FeedEntry(url="http://example.test/a/1", feed_url="http://example.test/feed", title="T")
    produced = Produced(outcome="published", article_id="ab" * 32, version="1", stream_id="1-0")
    assert writer.write(make_page(1), entry, produced)
    writer.close()

    [got] = read_all(store)
    assert got.page.body == make_page(1).body
    assert got.page.html == "<html><body><p>page 1 caf\u00e9</p></body></html>"
    assert got.page.final_url == "http://example.test/a/1?x=1"
    assert got.page.url == "http://example.test/a/1"
    assert got.page.fetched_at == T0
    assert ("etag", '"e1"') in got.page.headers
    assert all(name != "content-encoding" for name, _ in got.page.headers)  # body is decoded
    assert got.entry == entry
    assert got.produced == produced
    assert hooks.files == 1 and hooks.failures == 0
    on_disk = sum(p.stat().st_size for p in tmp_path.rglob("*.warc.gz"))
    assert hooks.bytes == on_disk
    assert gzip.decompress((next(tmp_path.rglob("*.warc.gz"))).read_bytes()).startswith(b"WARC/1")


def test_files_rotate_by_size_and_by_age(tmp_path: Path) -> None:
    now = [T0]
    store = Store(str(tmp_path))
    settings = ArchiveSettings(max_file_bytes=1500, max_file_age_s=60)
    writer = ArchiveWriter(store, settings, clock=lambda: now[0])
    for n in range(6):
        writer.write(
            make_page(n), FeedEntry(url=f"http://example.test/a/{n}"), Produced(outcome="x")
        )
    by_size = len(store.files(include_open=True))
    assert by_size >= 3
    now[0] = T0 + timedelta(seconds=61)
    writer.write(make_page(9), FeedEntry(url="http://example.test/a/9"), Produced(outcome="x"))
    writer.close()
    files = store.files()
    assert len(files) == by_size + 1
    assert not list(tmp_path.rglob("*.open"))
    assert [p.page.url for p in read_all(store)][-1] == "http://example.test/a/9"
    assert files[-1].started == T0 + timedelta(seconds=61)


def test_retention_deletes_by_age_then_by_size_oldest_first(tmp_path: Path) -> None:
    store = Store(str(tmp_path))
    for days in (200, 100, 50, 1):
        clock = T0 - timedelta(days=days)
        keep_all = ArchiveSettings(max_age_s=10 * 365 * 86400)
        writer = ArchiveWriter(store, keep_all, clock=lambda c=clock: c)
        writer.write(make_page(days, clock), FeedEntry(url="http://x.test/"), Produced(outcome="x"))
        writer.close()
    assert len(store.files()) == 4
    deleted = prune(store, ArchiveSettings(max_age_s=180 * 86400), T0)
    assert len(deleted) == 1 and len(store.files()) == 3
    sizes = [f.size for f in store.files()]
    deleted = prune(store, ArchiveSettings(max_total_bytes=sizes[-1] + sizes[-2]), T0)
    assert len(deleted) == 1
    assert [f.started for f in store.files()] == [T0 - timedelta(days=50), T0 - timedelta(days=1)]


def test_a_file_left_open_by_a_dead_process_is_finished_and_readable(tmp_path: Path) -> None:
    store = Store(str(tmp_path))
    writer = ArchiveWriter(store, ArchiveSettings(), clock=lambda: T0)
    for n in range(3):
        writer.write(make_page(n), FeedEntry(url=f"http://x.test/{n}"), Produced(outcome="x"))
    writer._current.handle.flush()  # type: ignore[union-attr]  # the process is killed here
    [left] = list(tmp_path.rglob("*.open"))
    left.write_bytes(left.read_bytes()[:-20])  # and its last record was cut short
    assert store.files() == []
    prune(store, ArchiveSettings(), T0 + timedelta(hours=3))
    assert [p.page.url for p in read_all(store)] == [
        "http://example.test/a/0",
        "http://example.test/a/1",
    ]


def test_a_failing_archive_never_loses_the_article(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the archive folder should be")
    settings = settings.replace(archive=ArchiveSettings(url=str(blocker / "archive")))
    hooks = Counting()
    services = Services.build(settings, redis_client, hooks)
    fixture_site.routes["/story"] = _serve(FIXTURES / "no-date.html")
    try:
        outcome = process_entry(FeedEntry(url=fixture_site.url("/story")), services)
    finally:
        services.close()
    assert outcome.kind == "published"
    assert redis_client.xlen(keys.ARTICLES_STREAM) == 1
    assert hooks.failures >= 1 and hooks.bytes == 0


def test_process_entry_archives_published_and_dropped_pages(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite, tmp_path: Path
) -> None:
    settings = settings.replace(archive=ArchiveSettings(url=str(tmp_path / "archive")))
    services = Services.build(settings, redis_client)
    fixture_site.routes["/story"] = _serve(FIXTURES / "no-date.html")
    fixture_site.routes["/list"] = _serve(FIXTURES / "listing-page.html")
    try:
        published = process_entry(FeedEntry(url=fixture_site.url("/story")), services)
        with pytest.raises(Exception, match="listing|article|short"):
            process_entry(FeedEntry(url=fixture_site.url("/list")), services)
    finally:
        services.close()
    pages = read_all(Store(str(tmp_path / "archive")))
    assert [p.produced.outcome for p in pages] == ["published", "dropped"]
    story = pages[0]
    [(stream_id, fields)] = redis_client.xrange(keys.ARTICLES_STREAM)
    assert story.produced.article_id == fields[b"id"].decode()
    assert story.produced.stream_id == stream_id.decode() == published.ref
    assert story.produced.version == "1" and story.produced.word_count > 0
    assert pages[1].produced.reason == "not_an_article"


def _write_many(url: str, worker: int) -> None:
    writer = ArchiveWriter(Store(url), ArchiveSettings(max_file_bytes=4000))
    for n in range(40):
        page = make_page(worker * 1000 + n, datetime.now(UTC))
        writer.write(page, FeedEntry(url=page.url), Produced(outcome="published"))
    writer.close()


def test_processes_writing_at_once_each_write_their_own_files(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_many, args=(str(tmp_path), w)) for w in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
        assert w.exitcode == 0
    store = Store(str(tmp_path))
    files = store.files()
    pids = {f.name.rsplit("-", 2)[-2] for f in files}
    assert len(pids) == 3
    urls = sorted(p.page.url for p in read_all(store))
    assert urls == sorted(
        f"http://example.test/a/{w * 1000 + n}" for w in range(3) for n in range(40)
    )


def _serve(path: Path):  # type: ignore[no-untyped-def]
    from pipeline.local.site import send_body

    body = path.read_bytes()
    return lambda request: send_body(request, 200, body, "text/html; charset=utf-8")
