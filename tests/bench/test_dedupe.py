"""The dedupe against pages of the pipeline benchmark (the copies it serves)."""

from __future__ import annotations

from pathlib import Path

import redis

from bench.corpus import article_path, load_corpus, page_html
from pipeline.article.standalone import extract_page
from pipeline.fetch.charset import decode_html
from pipeline.models import FeedEntry, OutcomeKind, Page, utc_now
from pipeline.publish import Publisher
from pipeline.settings import Settings

CORPUS = Path(__file__).resolve().parents[2] / "bench" / "data" / "article-extraction-benchmark"


def test_press_releases_sharing_an_about_paragraph_stay_two_articles(
    redis_client: redis.Redis, settings: Settings
) -> None:
    # regression: `bench pipeline` called page 54 a near-duplicate of page 148 (similarity
    # 0.75): two press releases of one company, ~600 and ~760 words, that share only their
    # closing paragraphs; 4 sampled shingles under the story's cut counted as a short text
    pages = load_corpus(CORPUS)
    publisher = Publisher(redis_client, settings)
    for index in (148, 54):
        url = "http://127.0.0.1:1" + article_path(index)
        html = decode_html(page_html(pages, index), "text/html; charset=utf-8")
        page = Page(
            url=url,
            final_url=url,
            status=200,
            content_type="text/html",
            html=html,
            fetched_at=utc_now(),
        )
        article = extract_page(page, settings)
        assert publisher.publish_article(article, FeedEntry(url=url)).kind is OutcomeKind.PUBLISHED
