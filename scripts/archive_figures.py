"""Archive bytes per article and reextract pages/s, measured on the vendored benchmark corpus.

    .venv/bin/python scripts/archive_figures.py [--copies N]

Serves the 181 pages of bench/data/article-extraction-benchmark from 127.0.0.1 (each
``--copies`` times under distinct URLs), runs each through process_entry (fetch, extract,
publish to a private redis-server, archive to a temporary folder), then runs reextract over
the archive twice: with the same extraction (nothing changes) and with
extract.favor_precision flipped. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import tempfile
import time
from pathlib import Path

from pipeline.archive.store import Store
from pipeline.archive.warc import Produced, page_record, read_pages
from pipeline.connection import connect_redis
from pipeline.errors import PipelineError
from pipeline.local.redis_server import start_redis
from pipeline.local.site import LocalSite, send_body
from pipeline.models import FeedEntry
from pipeline.ops.reextract import Selection, parse_point, reextract
from pipeline.process import Services, process_entry
from pipeline.settings import ArchiveSettings, ExtractSettings, FetchSettings, Settings

CORPUS = Path(__file__).resolve().parents[1] / "bench/data/article-extraction-benchmark/html"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=1)
    copies = parser.parse_args().copies
    with tempfile.TemporaryDirectory() as tmp:
        server = start_redis(Path(tmp) / "redis")
        site = LocalSite(root=Path(tmp)).start()
        try:
            print(json.dumps(_measure(Path(tmp), server.url, site, copies), indent=2))
        finally:
            site.stop()
            server.stop()


def _measure(tmp: Path, redis_url: str, site: LocalSite, copies: int) -> dict[str, float]:
    pages = sorted(CORPUS.glob("*.html.gz"))
    for page in pages:
        body = gzip.decompress(page.read_bytes())
        for copy in range(copies):
            site.routes[f"/{copy}/{page.name}"] = lambda r, b=body: send_body(
                r, 200, b, "text/html; charset=utf-8"
            )
    settings = Settings(
        redis_url=redis_url,
        fetch=FetchSettings(allow=("127.0.0.0/8",), rate_per_host=10_000, burst_per_host=100),
        archive=ArchiveSettings(url=str(tmp / "archive")),
    )
    client = connect_redis(redis_url)
    services = Services.build(settings, client)
    html_bytes = published = archived = 0
    started = time.perf_counter()
    for copy in range(copies):
        for page in pages:
            html_bytes += len(gzip.decompress(page.read_bytes()))
            try:
                outcome = process_entry(FeedEntry(url=site.url(f"/{copy}/{page.name}")), services)
                published += outcome.kind == "published"
            except PipelineError:
                pass
            archived += 1
    ingest_s = time.perf_counter() - started
    services.close()
    store = Store.of(settings.archive, settings.data_dir)
    archive_bytes = sum(f.size for f in store.files())
    figures = {
        "pages_archived": archived,
        "articles_published": published,
        "html_bytes_per_page": html_bytes / archived,
        "archive_bytes_per_page": archive_bytes / archived,
        "archive_bytes_per_published_article": archive_bytes / max(published, 1),
        "ingest_pages_per_s_with_archive": archived / ingest_s,
    }
    figures["archive_ms_per_page"] = _record_ms(store)
    figures["rss_mb_before_reextract"] = _rss_mb()
    for label, precision in (("same", True), ("changed", False)):
        figures |= _reextract(settings, client, store, label, precision)
        figures[f"rss_mb_after_reextract_{label}"] = _rss_mb()
    return figures


def _rss_mb() -> float:
    """This process's resident memory now (reextract reads one page at a time: flat)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _record_ms(store: Store) -> float:
    """CPU time to build (and compress) one page's WARC record, the archive's cost per page."""
    seconds, count = 0.0, 0
    for f in store.files():
        with store.open(f.name) as fh:
            for a in read_pages(fh, f.name):
                started = time.perf_counter()
                page_record(a.page, a.entry, Produced(outcome="published"))
                seconds += time.perf_counter() - started
                count += 1
    return seconds * 1000 / max(count, 1)


def _reextract(
    settings: Settings, client: object, store: Store, label: str, precision: bool
) -> dict[str, float]:
    quiet = settings.replace(
        extract=ExtractSettings(favor_precision=precision),
        archive=dataclasses.replace(settings.archive, enabled=False),
    )
    services = Services.build(quiet, client)  # type: ignore[arg-type]
    started = time.perf_counter()
    tally = reextract(store, services, Selection(since=parse_point("2000-01-01")), restart=True)
    seconds = time.perf_counter() - started
    return {
        f"reextract_{label}_pages_per_s": tally.pages / seconds,
        f"reextract_{label}_updated": tally.updated,
        f"reextract_{label}_unchanged": tally.unchanged,
    }


if __name__ == "__main__":
    main()
