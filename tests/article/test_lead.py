"""The lead paragraph above the body (pure): found by name, place and shape, never twice."""

from __future__ import annotations

from lxml.html import document_fromstring

from pipeline.article.extract import build_extractor, extract_document
from pipeline.article.lead import find_lead, sentences
from pipeline.models import Page, utc_now
from pipeline.settings import ExtractSettings

LEAD = (
    "The county will reopen the old ferry crossing next spring. Two boats are being refitted "
    "at the yard in Ostend. Tickets will cost the same as the bus fare into town."
)
DEK = "The county will reopen the old ferry crossing next spring, officials said."
BODY = [
    "The crossing closed in 1998 when the last operator went bankrupt and the slipway "
    "was left to the gulls, leaving villagers with a forty minute drive round the estuary.",
    "Councillors voted on Tuesday to spend 2.4 million euros on the slipways, the waiting "
    "room and a new timetable that matches the trains at the station on the far bank.",
    "The first crossing is planned for the morning of the spring fair, when the old "
    "ferryman's grandson will take the wheel for a trip that lasts about twelve minutes.",
]


def _page(lead_html: str, *, after: str = "") -> str:
    body = "".join(f"<p>{p}</p>" for p in BODY)
    return (
        "<html><body><nav><a href='/'>Home</a></nav><main><article>"
        f"<h1>Ferry to return</h1>{lead_html}<div class='article-body'>{body}</div>{after}"
        "</article></main></body></html>"
    )


def test_a_lead_paragraph_above_the_body_is_found() -> None:
    tree = document_fromstring(_page(f"<div class='article-intro'><p>{LEAD}</p></div>"))
    assert find_lead(tree, BODY) == LEAD


def test_leads_named_in_other_ways_and_languages() -> None:
    for name in ("teaser-text", "c-article__standfirst", "storyLead", "chapo", "vorspann"):
        tree = document_fromstring(_page(f"<p class='{name}'>{LEAD}</p>"))
        assert find_lead(tree, BODY) == LEAD, name


def test_no_lead_when_the_body_has_it_already() -> None:
    tree = document_fromstring(_page(f"<div class='intro'><p>{LEAD}</p></div>"))
    assert find_lead(tree, [LEAD, *BODY]) == ""


def test_a_one_sentence_dek_is_a_subtitle_not_a_lead() -> None:
    tree = document_fromstring(_page(f"<h2 class='article-dek'>{DEK}</h2>"))
    assert find_lead(tree, BODY) == ""


def test_teaser_lists_navigation_and_later_boxes_are_not_leads() -> None:
    cards = "".join(f"<div class='teaser'><p>{LEAD} {i}.</p></div>" for i in range(3))
    assert find_lead(document_fromstring(_page(cards)), BODY) == ""
    aside = f"<aside><div class='intro'><p>{LEAD}</p></div></aside>"
    assert find_lead(document_fromstring(_page(aside)), BODY) == ""
    linked = f"<a href='/ferry'><div class='intro'>{LEAD}</div></a>"
    assert find_lead(document_fromstring(_page(linked)), BODY) == ""
    below = f"<div class='summary'><p>{LEAD}</p></div>"
    assert find_lead(document_fromstring(_page("", after=below)), BODY) == ""
    banner = f"<div class='cookie-banner__summary'><p>{LEAD}</p></div>"
    assert find_lead(document_fromstring(_page(banner)), BODY) == ""


def test_a_lead_ends_like_a_sentence_and_leaves_scripts_out() -> None:
    crumbs = f"<div class='intro'><p>{LEAD}</p><span>Home » News » Ferries</span></div>"
    assert find_lead(document_fromstring(_page(crumbs)), BODY) == ""
    script = f"<div class='intro'><p>{LEAD}</p><script>var ad = {{slot: 1}};</script></div>"
    assert find_lead(document_fromstring(_page(script)), BODY) == LEAD


def test_sentences_skip_initials_numbers_and_fragments() -> None:
    assert sentences("Patrick W. Carlineo Jr., 55, was sentenced today. He will appeal.") == 1
    assert sentences("AirPods Pro. Sonos Move. Galaxy Note 10. See what else made our list.") == 1
    assert sentences(LEAD) == 3


def test_extraction_puts_the_lead_first() -> None:
    html = _page(f"<div class='article-intro'><p>{LEAD}</p></div>")
    page = Page(
        url="https://example.com/a",
        final_url="https://example.com/a",
        status=200,
        content_type="text/html",
        html=html,
        fetched_at=utc_now(),
    )
    extraction = extract_document(page, options=build_extractor(ExtractSettings()))
    assert extraction.text.startswith(LEAD)
    assert extraction.text.count("old ferry crossing") == 1
