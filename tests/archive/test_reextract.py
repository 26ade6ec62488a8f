"""``newsflow reextract``: archived pages through changed extraction publish article.updated
for what changed, once; resumable; dry run; never an older page over a newer one."""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from pipeline import keys
from pipeline.archive.store import Store
from pipeline.local.site import LocalSite, send_body
from pipeline.models import FeedEntry
from pipeline.ops.reextract import Selection, parse_point, reextract
from pipeline.process import Services, process_entry
from pipeline.settings import ArchiveSettings, ExtractSettings, Settings
from tests.commands import ROOT, newsflow, worker_env

PAGES = Path(__file__).resolve().parents[1] / "fixtures" / "pages"
CHANGES = ("japanese.html",)
"""Pages whose text differs with and without trafilatura's precision mode."""
STAYS = ("no-date.html", "non-english-de.html", "repeated-headline.html")
SINCE = "2020-01-01"


@pytest.fixture
def archived(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite, tmp_path: Path
) -> Iterator[tuple[Settings, list[str]]]:
    """Pages fetched, published and archived with today's (default) extraction."""
    settings = settings.replace(archive=ArchiveSettings(url=str(tmp_path / "archive")))
    services = Services.build(settings, redis_client)
    urls = []
    for name in (*CHANGES, *STAYS, "listing-page.html"):
        fixture_site.routes[f"/{name}"] = _serve(PAGES / name)
        urls.append(fixture_site.url(f"/{name}"))
        try:
            process_entry(FeedEntry(url=urls[-1], feed_url="http://feeds.test/rss"), services)
        except Exception as exc:  # the listing page is dropped (and archived too)
            assert "listing" in str(exc).lower() or "article" in str(exc).lower()
    services.close()
    yield settings, urls


def _serve(path: Path):  # type: ignore[no-untyped-def]
    body = path.read_bytes()
    return lambda request: send_body(request, 200, body, "text/html; charset=utf-8")


def _entries(client: redis.Redis) -> list[tuple[str, dict[str, str]]]:
    return [
        (sid.decode(), {k.decode(): v.decode() for k, v in fields.items()})
        for sid, fields in client.xrange(keys.ARTICLES_STREAM)
    ]


def _run(settings: Settings, tmp_path: Path, *args: str, **env: str) -> str:
    environ = worker_env(
        settings.redis_url,
        tmp_path / "config",
        NEWSFLOW_ARCHIVE_URL=settings.archive.url,
        NEWSFLOW_EXTRACT_FAVOR_PRECISION="false",  # the extraction changed: a setting
        **env,
    )
    done = subprocess.run(
        newsflow("reextract", "--since", SINCE, *args),
        env=environ,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_reextract_publishes_what_changed_once(
    archived: tuple[Settings, list[str]], redis_client: redis.Redis, tmp_path: Path
) -> None:
    settings, urls = archived
    before = _entries(redis_client)
    assert len(before) == 4 and all(f["type"] == "article" for _, f in before)

    out = _run(settings, tmp_path)

    after = _entries(redis_client)
    assert after[:4] == before  # nothing else changed
    [(_, update)] = after[4:]
    [(_, original)] = [(s, f) for s, f in before if f["id"] == update["id"]]
    assert update["type"] == "article.updated" and update["reason"] == "reextract"
    assert update["version"] == "2" and "text" in update["changed"].split(",")
    assert '"url":"' + urls[0] in update["body"] and update["body"] != original["body"]
    assert "4 pages in the selection" in out and "1 updated" in out
    assert "text 1" in out

    again = _run(settings, tmp_path)  # the same command: the run is done
    assert "already done" in again
    rerun = _run(settings, tmp_path, "--restart")  # run it again in full: nothing changed
    assert "0 updated" in rerun and "4 unchanged" in rerun
    assert _entries(redis_client) == after


def test_dry_run_prints_the_diff_and_publishes_nothing(
    archived: tuple[Settings, list[str]], redis_client: redis.Redis, tmp_path: Path
) -> None:
    settings, _ = archived
    before = _entries(redis_client)
    out = _run(settings, tmp_path, "--dry-run")
    assert "1 would be updated" in out and "fields changed: text 1" in out
    assert "words gained" in out
    assert _entries(redis_client) == before
    assert "1 updated" in _run(settings, tmp_path)  # a dry run leaves no checkpoint behind


def test_source_and_window_select_pages(
    archived: tuple[Settings, list[str]], redis_client: redis.Redis
) -> None:
    settings, _ = archived
    services = _services(settings, redis_client)
    store = Store.of(settings.archive, settings.data_dir)
    try:
        elsewhere = Selection(since=parse_point(SINCE), source="example.org")
        assert reextract(store, services, elsewhere, dry_run=True).pages == 0
        later = Selection(since=datetime.now(UTC))
        assert reextract(store, services, later, dry_run=True).pages == 0
        local = Selection(since=parse_point(SINCE), source="127.0.0.1")
        assert reextract(store, services, local, dry_run=True).pages == 4
    finally:
        services.close()


def test_an_interrupted_run_resumes_at_its_checkpoint(
    archived: tuple[Settings, list[str]], redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, _ = archived
    monkeypatch.setattr("pipeline.ops.reextract.CHECKPOINT_EVERY", 1)
    services = _services(settings, redis_client, favor_precision=False)
    store = Store.of(settings.archive, settings.data_dir)
    selection = Selection(since=parse_point(SINCE))
    seen: list[int] = []

    def stop_at_three(phase: str, done: int, total: int, pages: int) -> None:
        if phase == "extract":
            seen.append(pages)
            if pages == 3:
                raise KeyboardInterrupt

    try:
        with pytest.raises(KeyboardInterrupt):
            reextract(store, services, selection, progress=stop_at_three)
        first = len(_entries(redis_client))
        tally = reextract(store, services, selection, progress=stop_at_three)
    finally:
        services.close()
    assert first == 5  # the update went out before the interruption
    assert (tally.pages, tally.updated, tally.unchanged) == (4, 1, 3)  # counts of both runs
    assert len(_entries(redis_client)) == 5
    assert seen[-1] <= 3  # the second run read only the pages after the checkpoint


def test_an_older_page_never_overrides_a_newer_one(
    redis_client: redis.Redis, settings: Settings, fixture_site: LocalSite, tmp_path: Path
) -> None:
    settings = settings.replace(archive=ArchiveSettings(url=str(tmp_path / "archive")))
    services = Services.build(settings, redis_client)
    old, new = (PAGES / "no-date.html").read_bytes(), (PAGES / "non-english-de.html").read_bytes()
    body = [old]
    fixture_site.routes["/story"] = lambda request: send_body(request, 200, body[0], "text/html")
    url = fixture_site.url("/story")
    try:
        process_entry(FeedEntry(url=url), services)
        body[0] = new
        updated = process_entry(FeedEntry(url=url, update=True), services)
        assert updated.kind == "updated"
        assert services.archive is not None
        services.archive.close()  # the archive file is finished
        tally = reextract(
            Store.of(settings.archive, settings.data_dir),
            services,
            Selection(since=parse_point(SINCE)),
        )
    finally:
        services.close()
    assert (tally.pages, tally.superseded, tally.updated, tally.unchanged) == (2, 1, 0, 1)
    assert redis_client.xlen(keys.ARTICLES_STREAM) == 2


def _services(settings: Settings, client: redis.Redis, favor_precision: bool = True) -> Services:
    extract = ExtractSettings(favor_precision=favor_precision)
    archive = dataclasses.replace(settings.archive, enabled=False)
    return Services.build(settings.replace(extract=extract, archive=archive), client)
