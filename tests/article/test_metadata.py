"""What pages declare (JSON-LD, meta, <time>, URL) and the body's second opinion (pure)."""

from __future__ import annotations

from lxml.html import document_fromstring

from pipeline.article.completion import missed_paragraphs
from pipeline.article.dates import HTMLDATE, TIME, URL, url_date
from pipeline.article.metadata import JSON_LD, META, read_declared

JSON_LD_PAGE = """<html lang="en-GB"><head>
<meta property="og:title" content="Meta title">
<meta property="og:site_name" content="The Ledger">
<meta property="article:tag" content="water"><meta property="article:tag" content="rivers">
<meta name="author" content="https://example.com/staff/jane">
<script type="application/ld+json">{"@graph": [{"@type": "WebSite", "name": "x"},
 {"@type": ["NewsArticle"], "headline": "JSON-LD title",
  "author": [{"name": "Priya Natarajan"}, "Tom Hale"],
  "datePublished": "2026-11-18T07:30:00+01:00", "dateModified": "not a date",
  "isAccessibleForFree": "False", "articleBody": "Body.",
  "image": {"url": "https://example.com/a.jpg"}}]}</script>
<script type="application/ld+json">{ broken json </script>
</head><body><p>Text</p></body></html>"""


def test_json_ld_wins_and_each_value_has_its_source() -> None:
    declared = read_declared(document_fromstring(JSON_LD_PAGE), "https://example.com/a")
    assert declared.title == ("JSON-LD title", JSON_LD)
    assert declared.authors == (("Priya Natarajan", "Tom Hale"), JSON_LD)
    assert declared.published == ("2026-11-18T07:30:00+01:00", JSON_LD)
    assert declared.modified == ("", "")
    assert declared.site_name == ("The Ledger", META)
    assert declared.tags == (("water", "rivers"), META)
    assert declared.image == ("https://example.com/a.jpg", JSON_LD)
    assert declared.language == ("en-GB", "html")
    assert declared.free is False and declared.body == "Body."
    assert "newsarticle" in declared.types


def test_date_falls_back_to_time_then_url() -> None:
    timed = (
        "<html><body><article><time datetime='2026-11-16T10:00:00+09:00'>x</time>"
        "</article></body></html>"
    )
    declared = read_declared(document_fromstring(timed), "https://example.com/x")
    assert declared.published == ("2026-11-16T10:00:00+09:00", TIME)
    bare = "<html><body><p>No dates at all here.</p></body></html>"
    declared = read_declared(document_fromstring(bare), "https://example.com/2019/11/19/story")
    assert declared.published == ("2019-11-19", URL)
    assert url_date("https://example.com/news/20191119/x.html") == "2019-11-19"
    assert url_date("https://example.com/news/story-123") == ""


def test_htmldate_year_only_guess_is_not_a_date() -> None:
    page = "<html><body><p>Updated Nov. 19, 2026</p><footer>© 2026</footer></body></html>"
    declared = read_declared(document_fromstring(page), "https://example.com/x")
    assert declared.published[1] in ("", HTMLDATE)
    assert not declared.published[0].endswith("-01-01T00:00:00")


def test_missed_paragraphs_finds_the_second_chunk_of_a_split_body() -> None:
    first = "Volunteers counted 1,240 grey seals on the sandbanks of the estuary last weekend."
    second = "More than sixty people took part in the count, walking the shore at low tide."
    third = "Twenty years ago we all worried the colony might disappear for good, the officer said."
    ad = "Get 50% off your first delivery today when you order from our shop before Friday"
    page = f"""<html><body><article>
      <div class="chunk"><p>{first}</p><p>{second}</p></div>
      <div class="ad"><p>{ad}</p></div>
      <div class="chunk"><p>{third}</p></div></article></body></html>"""
    assert missed_paragraphs(document_fromstring(page), [first, second]) == [(1, third)]
    assert missed_paragraphs(document_fromstring(page), [first, second, third]) == []


def test_missed_paragraphs_keep_news_about_comments_not_comment_rules() -> None:
    first = "Volunteers counted 1,240 grey seals on the sandbanks of the estuary last weekend."
    second = "More than sixty people took part in the count, walking the shore at low tide."
    quote = "The harbour authority declined to comment on the plans for a visitor centre on Friday."
    rules = "Comments that insult other readers or stay off topic are removed by our moderators."
    page = f"""<html><body><article>
      <div class="chunk"><p>{first}</p><p>{second}</p></div>
      <div class="chunk"><p>{quote}</p><p>{rules}</p></div></article></body></html>"""
    assert missed_paragraphs(document_fromstring(page), [first, second]) == [(1, quote)]


def test_declared_values_skip_unsafe_only_and_unusable_image_candidates() -> None:
    """Issue #15: a headline of control characters only, a data: or javascript: image and a
    malformed URL (urljoin raises on it) are passed over, not published, not a crash."""
    page = """<html><head>
    <meta property="og:title" content="&#x1b;&#x7;">
    <meta property="og:image" content="data:image/png;base64,AAAA">
    <meta name="twitter:image" content="http://[broken/a.jpg">
    <script type="application/ld+json">{"@type": "NewsArticle", "headline": "\\u202e\\u0007 ",
      "image": "/img/é 1.jpg", "description": "Safe\\u001b[2J text"}</script>
    </head><body><h1>Heading</h1><p>Text</p></body></html>"""
    declared = read_declared(document_fromstring(page), "https://example.com/a")
    assert declared.title == ("", "")
    assert declared.image == ("https://example.com/img/%C3%A9%201.jpg", JSON_LD)
    assert declared.description == ("Safe[2J text", JSON_LD)


def test_missed_paragraphs_add_subheadings_and_lists_between_kept_paragraphs() -> None:
    first = "Volunteers counted 1,240 grey seals on the sandbanks of the estuary last weekend."
    second = "More than sixty people took part in the count, walking the shore at low tide."
    heading = "Where the pups are born"
    items = ["the north sandbank", "the old jetty", "the marsh channel"]
    listed = "".join(f"<li>{i}</li>" for i in items)
    page = f"""<html><body><article><div class="body">
      <p>{first}</p><h2>{heading}</h2><ul>{listed}</ul><p>{second}</p>
      <h2>Read more from our wildlife desk today</h2></div></article></body></html>"""
    found = missed_paragraphs(document_fromstring(page), [first, second])
    assert found == [(0, heading), (0, "\n".join(items))]


def test_missed_paragraphs_skip_link_lists_and_lists_already_kept() -> None:
    first = "Volunteers counted 1,240 grey seals on the sandbanks of the estuary last weekend."
    second = "More than sixty people took part in the count, walking the shore at low tide."
    links = "".join(f"<li><a href='/s{i}'>Seal story number {i}</a></li>" for i in range(3))
    kept = "<ul><li>north sandbank</li><li>old jetty</li><li>marsh channel</li></ul>"
    page = f"""<html><body><article><div class="body">
      <p>{first}</p><ul>{links}</ul>{kept}<p>{second}</p></div></article></body></html>"""
    texts = [first, "- north sandbank\n- old jetty\n- marsh channel", second]
    assert missed_paragraphs(document_fromstring(page), texts) == []
