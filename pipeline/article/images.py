"""Photos of a page: image URL, caption and credit, read from <figure> elements.

Captions are also what the body must not contain: the cleaner drops paragraphs that repeat
them. Credits like "(AFP)", "Reuters" or "Photo: Jane Doe" are split off the caption text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml.html import HtmlElement

from pipeline.article.sanitize import MAX_IMAGES, absolute_url, image_url
from pipeline.models import Image

_CAPTION_XPATH = (
    "//figcaption | //*[contains(@class, 'caption') and not(self::body) and not(self::article)"
    " and not(self::html) and not(self::main)]"
)
_CREDIT_XPATH = ".//*[contains(@class, 'credit') or contains(@class, 'copyright')]"
_AGENCIES = r"AFP|AP|Reuters|EPA|Getty Images|Getty|AAP|dpa|ANP|Xinhua|ANSA|EFE|PA|Shutterstock"
_CREDIT_TAIL = re.compile(
    rf"\s*(?:\(\s*([^()]{{2,60}})\s*\)"
    rf"|(?:[-–—|/]\s*|\b)((?:photo|foto|image|picture|credit|bild|source)\s*:\s*[^.]{{2,80}}"
    rf"|©\s*[^.]{{2,80}}|(?:{_AGENCIES})(?:\s*/\s*[\w ]{{2,40}})?))\s*\.?$",
    re.I,
)
MAX_FIGURES = MAX_IMAGES


@dataclass(frozen=True, slots=True, kw_only=True)
class Figures:
    """The photos of a page and every caption text to keep out of its body."""

    images: tuple[Image, ...] = ()
    captions: tuple[str, ...] = ()


def read_figures(tree: HtmlElement, base_url: str) -> Figures:
    """Images with caption and credit, and the page's caption texts."""
    images: list[Image] = []
    for figure in tree.xpath("//figure[.//img]")[:MAX_FIGURES]:
        image = _figure_image(figure, base_url)
        if image is not None and image.url not in {i.url for i in images}:
            images.append(image)
    captions: list[str] = []
    for node in tree.xpath(_CAPTION_XPATH)[:100]:
        text = " ".join(node.text_content().split())
        if text and len(text) <= 1000 and text not in captions:
            captions.append(text)
    for image in images:
        if image.caption and image.caption not in captions:
            captions.append(image.caption)
    return Figures(images=tuple(images), captions=tuple(captions))


def split_credit(caption: str) -> tuple[str, str]:
    """Split "Police at the scene (AFP)" into ("Police at the scene", "AFP")."""
    match = _CREDIT_TAIL.search(caption)
    if not match or match.start() == 0:
        return caption, ""
    credit = (match.group(1) or match.group(2) or "").strip()
    if len(credit.split()) > 8:
        return caption, ""
    return caption[: match.start()].rstrip(" ,;:-–—|/"), credit


def _figure_image(figure: HtmlElement, base_url: str) -> Image | None:
    img = figure.xpath(".//img")[0]
    candidates = (img.get(name) for name in ("src", "data-src", "data-original"))
    # lazy-loading pages put a data: placeholder in src and the photo in data-src
    url = next(
        (u for u in (image_url(absolute_url(base_url, c)) for c in candidates if c) if u), ""
    )
    if not url:
        return None
    caption_nodes = figure.xpath(".//figcaption")
    caption = " ".join(caption_nodes[0].text_content().split()) if caption_nodes else ""
    credit_nodes = figure.xpath(_CREDIT_XPATH)
    credit = " ".join(credit_nodes[0].text_content().split()) if credit_nodes else ""
    if credit and caption.endswith(credit):
        caption = caption[: -len(credit)].rstrip(" ,;:-–—|/")
    elif not credit:
        caption, credit = split_credit(caption)
    alt = " ".join((img.get("alt") or "").split())
    return Image(url=url, caption=caption or alt, credit=credit)
