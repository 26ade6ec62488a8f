"""Photos and captions wherever pages put them: each shape goes through the real path
(extract_page: extract_document, then parse_article) inside the same small article page, and
must land in ``images`` (URL, caption and credit apart) and stay out of the cleaned body."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from trafilatura.utils import load_html

from pipeline.article.images import MAX_FIGURES, is_credit, read_figures, split_credit
from pipeline.article.standalone import extract_page, page_from_html
from pipeline.models import Article, Image
from pipeline.settings import Settings

URL = "https://gazette.example/news/flood-defences"
IMG = "https://gazette.example/img/"
PARAGRAPHS = (
    "The town council voted on Thursday to rebuild the flood defences along the river, after a"
    " winter in which the water twice reached the doors of the houses on Mill Street and the"
    " market hall had to close for a week.",
    "Under the plan, the embankment will be raised by eighty centimetres over two kilometres,"
    " and a new pumping station will be built next to the old mill, officials said at a meeting"
    " that lasted more than three hours.",
    "Residents who spoke at the meeting welcomed the decision but asked why it had taken so"
    " long, and several said their insurance premiums had tripled since the previous spring.",
    "The work is expected to start in March and to take eighteen months, during which the"
    " riverside path will be closed to walkers and cyclists, the engineering firm said.",
    "The regional government will pay two thirds of the cost, and the town will borrow the rest"
    " over twenty years, the treasurer told councillors before the vote was taken.",
)
SHAPES_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "pages" / "captions"
SHAPES: dict[str, tuple[Image, ...]] = {
    "figcaption-agency": (
        Image(url=IMG + "scene.jpg", caption="Police at the scene on Monday", credit="AFP"),
    ),
    "wp-caption-div": (
        Image(
            url=IMG + "mill.jpg",
            caption="Volunteers clear the river bank near the old mill.",
            credit="Photo: Jane Doe",
        ),
    ),
    "wp-caption-figure": (
        Image(
            url=IMG + "wheel.jpg",
            caption="The mill wheel turns again for the first time since 1952",
            credit="© Jane Doe",
        ),
    ),
    "wp-block-image": (
        Image(
            url=IMG + "queue.jpg",
            caption="Residents queue for water at the town hall",
            credit="Reuters",
        ),
    ),
    "alt-credit-span": (
        Image(
            url=IMG + "cordon.jpg",
            caption="Police officers stand at the cordon near the station",
            credit="Photo: Jane Doe",
        ),
    ),
    "alt-small-credit": (
        Image(url=IMG + "square.jpg", caption="Flood water covers the square", credit="© Jane Doe"),
    ),
    "credit-paragraph": (
        Image(url=IMG + "boats.jpg", caption="Boats in the harbour", credit="Reuters/Jane Doe"),
    ),
    "caption-class-after-img": (
        Image(
            url=IMG + "depot.jpg",
            caption="Firefighters gather at the depot before the night shift.",
            credit="Reuters",
        ),
    ),
    "photo-class-paragraph": (
        Image(
            url=IMG + "roof.jpg",
            caption="Workers repair the roof of the school.",
            credit="Photo: Jane Doe",
        ),
    ),
    "image-caption-div": (
        Image(
            url=IMG + "dawn.jpg",
            caption="Fishing boats return to the harbour at dawn",
            credit="Jane Doe/Reuters",
        ),
    ),
    "caption-and-credit-spans": (
        Image(
            url=IMG + "train.jpg",
            caption="A crowd waits for the train to arrive at the station",
            credit="Jane Doe/AFP",
        ),
    ),
    "em-after-br": (
        Image(url=IMG + "fire.jpg", caption="The fire at the depot on Monday", credit="AP"),
    ),
    "picture-srcset": (
        Image(
            url=IMG + "bridge-1200.jpg",
            caption="The new bridge opens to traffic on Friday",
            credit="EPA",
        ),
    ),
    "data-caption": (
        Image(
            url=IMG + "court.jpg",
            caption="Crowds gather outside the court on Tuesday",
            credit="AP",
        ),
    ),
    "title-attribute": (Image(url=IMG + "lighthouse.jpg", caption="The old lighthouse at dusk"),),
    "schema-caption": (
        Image(
            url=IMG + "polling.jpg",
            caption="Voters wait outside the polling station in the rain",
            credit="Jane Doe",
        ),
    ),
    "schema-description": (
        Image(
            url=IMG + "stage.jpg",
            caption="The orchestra rehearses on the open-air stage",
            credit="Photo: Jane Doe",
        ),
    ),
    "caption-table": (
        Image(url=IMG + "garden.jpg", caption="The community garden in its first summer"),
    ),
}


def article_with(shape: str) -> Article:
    """The shape's markup placed after the second paragraph of a small article page."""
    snippet = (SHAPES_DIR / f"{shape}.html").read_text(encoding="utf-8")
    body = "".join(f"<p>{p}</p>" + (snippet if i == 1 else "") for i, p in enumerate(PARAGRAPHS))
    html = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<title>Council votes to rebuild flood defences | Town Gazette</title></head><body>"
        "<header><nav><a href='/'>Home</a> <a href='/news'>News</a></nav></header><main>"
        "<article><h1>Council votes to rebuild flood defences</h1>"
        f"<div class='article-body'>{body}</div></article></main>"
        "<footer><p>Town Gazette, Mill Street 1</p></footer></body></html>"
    )
    return extract_page(page_from_html(URL, html), Settings())


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_photo_caption_and_credit_land_in_images(shape: str) -> None:
    assert article_with(shape).images == SHAPES[shape]


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_caption_and_credit_stay_out_of_the_body(shape: str) -> None:
    article = article_with(shape)
    assert article.text.split("\n\n") == list(PARAGRAPHS)
    for text in (t for image in SHAPES[shape] for t in (image.caption, image.credit) if t):
        assert text.rstrip(".") not in article.text


def test_every_shape_has_a_fixture() -> None:
    assert sorted(p.stem for p in SHAPES_DIR.glob("*.html")) == sorted(SHAPES)


@pytest.mark.parametrize(
    ("caption", "expected"),
    [
        ("Police at the scene (AFP)", ("Police at the scene", "AFP")),
        ("The mill wheel turns © Jane Doe", ("The mill wheel turns", "© Jane Doe")),
        ("Fans at the stadium. Jane Doe/Reuters", ("Fans at the stadium.", "Jane Doe/Reuters")),
        (
            "The mayor in New York. AP Photo/Jane Doe",
            ("The mayor in New York.", "AP Photo/Jane Doe"),
        ),
        ("A diver at the reef. Photo by Jane Doe", ("A diver at the reef.", "Photo by Jane Doe")),
        ("Steelers fans in Pittsburgh, Pa.", ("Steelers fans in Pittsburgh, Pa.", "")),
        ("We met at the spa", ("We met at the spa", "")),
    ],
)
def test_split_credit(caption: str, expected: tuple[str, str]) -> None:
    assert split_credit(caption) == expected


def test_is_credit_is_a_whole_credit_line() -> None:
    assert all(map(is_credit, ["Photo: Jane Doe", "© Jane Doe", "(AFP)", "Jane Doe/AP", "dpa"]))
    assert not any(map(is_credit, ["Police at the scene (AFP)", "Photos of the week", ""]))


def figures_of(body: str) -> tuple[Image, ...]:
    return read_figures(load_html(f"<html><body>{body}</body></html>"), URL).images


def test_a_plain_paragraph_after_an_image_is_no_caption() -> None:
    body = f'<p><img src="/a.jpg" alt="A photo"></p><p>{PARAGRAPHS[0]}</p>'
    figures = read_figures(load_html(f"<html><body>{body}</body></html>"), URL)
    assert figures.images == () and PARAGRAPHS[0] not in figures.captions


def test_icons_logos_and_wrappers_are_no_photos() -> None:
    icons = (
        '<li><a href="/share"><img src="/fb.png"><span>Share on Facebook</span></a></li>'
        '<p><img src="/logo.png" width="40"><span>The Town Gazette app</span></p>'
    )
    article = (
        '<div itemscope itemtype="https://schema.org/Article"><img src="/top.jpg">'
        '<p itemprop="description">A long day at the council</p></div>'
    )
    logo = '<div itemscope itemtype="https://schema.org/ImageObject"><img src="/l.png" alt="x">'
    wrapper = '<div class="entry with-captions"><img src="/a.jpg"><p>Text</p><img src="/b.jpg">'
    assert figures_of(icons + article + logo + "</div>" + wrapper + "</div>") == ()


def test_images_and_captions_are_capped() -> None:
    figures = "".join(
        f'<figure><img src="/{i}.jpg"><figcaption>Photo number {i}</figcaption></figure>'
        for i in range(300)
    )
    found = read_figures(load_html(f"<html><body>{figures}</body></html>"), URL)
    assert [i.url for i in found.images] == [
        f"https://gazette.example/{i}.jpg" for i in range(MAX_FIGURES)
    ]
    assert len(found.images) == MAX_FIGURES and len(found.captions) == 100


def test_reading_a_big_flat_page_stays_linear() -> None:
    """20,000 captioned paragraphs and images in one container: well under a second."""
    rows = '<img src="/i.jpg"><p class="caption">A caption line</p><p>Body text here.</p>'
    tree = load_html(f"<html><body><div>{rows * 20_000}</div></body></html>")
    started = time.monotonic()
    read_figures(tree, URL)
    assert time.monotonic() - started < 1.0
