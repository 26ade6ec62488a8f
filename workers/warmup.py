"""Warming a worker's main process before it forks its pool.

The first extractions in a fresh process pay for lazy imports and caches (trafilatura,
htmldate, dateparser locales). Run once in the Celery main process, before the pool forks,
every pool process - and each one that replaces a recycled process - starts warm; then
``gc.freeze()`` keeps the collector from touching (and un-sharing) the inherited objects.
"""

from __future__ import annotations

import gc
import logging
import time

from pipeline.article.dates import warm_up_dates
from pipeline.article.standalone import extract_page, page_from_html
from pipeline.errors import PipelineError
from pipeline.local.site import sample_site_dir
from pipeline.settings import Settings

log = logging.getLogger(__name__)


def warm_up(settings: Settings) -> float:
    """Extract the bundled sample articles and load the date parser's language tables once,
    then freeze the heap; returns seconds spent."""
    started = time.perf_counter()
    for path in sorted((sample_site_dir() / "articles").glob("*.html")):
        url = f"https://sample.invalid/articles/{path.stem}"
        page = page_from_html(url, path.read_text(encoding="utf-8"))
        try:
            extract_page(page, settings)
        except PipelineError as exc:  # a sample page without an article still warmed the code
            log.debug("warm-up page %s: %s", path.name, exc)
    warm_up_dates()
    gc.collect()
    gc.freeze()
    return time.perf_counter() - started
