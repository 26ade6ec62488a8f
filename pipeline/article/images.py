"""Photos of a page: image URL, caption and credit, wherever the page puts them.

A photo is found in a holder (``<figure>``, a schema.org ``ImageObject``, an element whose
class names a caption and that holds the image, as WordPress's ``div.wp-caption``, or one with
a ``data-caption``), or as an image followed by its caption or credit line (``<img>`` then
``<p class="wp-caption-text">``, ``<span class="credit">``, ``<small>© …</small>``). The
caption is the shown text, else ``data-caption``, ``title`` or ``alt``; credits like "(AFP)",
"Reuters" or "Photo: Jane Doe" are split off it.

Captions are also what the body must not contain: every caption and credit text shown on the
page is returned, and the cleaner drops paragraphs that repeat one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice

from lxml.html import HtmlElement

from pipeline.article.sanitize import MAX_IMAGES, absolute_url, image_url
from pipeline.models import Image

_MARKED_XPATH = "//*[@data-caption or @itemtype or contains(@class, 'caption')]"
"""Caption and holder candidates, in one pass (``//figure`` and ``//figcaption`` are cheap)."""
_NOT_CAPTIONS = frozenset({"html", "body", "main", "article"})
_INNER_CAPTION_XPATHS = (
    ".//figcaption",
    ".//*[@itemprop='caption' or @itemprop='description']",
    ".//*[contains(@class, 'caption')]",
)
_CREDIT_XPATH = (
    ".//*[contains(@class, 'credit') or contains(@class, 'copyright')"
    " or @itemprop='copyrightHolder' or @itemprop='creditText' or @itemprop='author']"
)
_AGENCIES = (
    r"AFP|AP|Reuters|REUTERS|EPA|Getty Images|Getty|AAP|dpa|DPA|ANP|Xinhua|ANSA|EFE|PA"
    r"|Shutterstock|Keystone|KEYSTONE|IMAGO|imago"
)
_NAME = r"[A-Z][\w'’.-]*(?:\s+[A-Z][\w'’.-]*){0,2}"
_CREDIT_TAIL = re.compile(
    rf"\s*(?:\(\s*([^()]{{2,60}})\s*\)"
    rf"|(?:[-–—|/]\s*|\b|(?=©))((?:photo|foto|image|picture|credit|bild|source)\s*(?::|by\b)"
    rf"\s*[^.]{{2,80}}|©\s*[^.]{{2,80}}|(?-i:(?:{_NAME}\s*/\s*)?(?:{_AGENCIES}))"
    rf"(?:\s+(?:photos?|images?))?(?:\s*/\s*[\w ]{{2,40}})?))\s*\.?$",
    re.I,
)
_LINE_CLASSES = ("caption", "credit", "photo", "copyright", "legend")
_INLINE_LINES = frozenset({"small", "em", "i", "span", "cite"})
_IMAGE_SOURCES = ("src", "data-src", "data-lazy-src", "data-original")
MAX_FIGURES = MAX_IMAGES
MAX_CAPTIONS = 100
"""Caption nodes read per page, and photo holders (pages have far fewer)."""
MAX_IMAGE_TAGS = 300
"""Images per page looked at for a caption or credit line right after them."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Figures:
    """The photos of a page and every caption text to keep out of its body."""

    images: tuple[Image, ...] = ()
    captions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class _Photo:
    image: Image
    shown: tuple[str, ...] = ()
    """Texts the body must not repeat: caption and credit as shown, the caption without a
    credit from its own node, or from the image's attributes (an alt text often repeats a
    teaser's link text)."""


def read_figures(tree: HtmlElement, base_url: str) -> Figures:
    """Images with caption and credit, and the page's caption texts."""
    marked = [n for n in tree.xpath(_MARKED_XPATH) if n.tag not in _NOT_CAPTIONS]
    nodes = tree.xpath("//figcaption") + [n for n in marked if _classed(n, ("caption",))]
    holders = tree.xpath("//figure") + [n for n in marked if _holds_photo(n)]
    used: set[HtmlElement] = set()
    photos = _first_photos(
        _holder_photos(holders, base_url, used) + _line_photos(tree, base_url, used)
    )
    images: dict[str, Image] = {}
    for photo in photos:
        images.setdefault(photo.image.url, photo.image)
    texts = [_text(n) for n in nodes[:MAX_CAPTIONS]]
    texts += [t for photo in photos for t in photo.shown]
    captions = dict.fromkeys(t for t in texts if t and len(t) <= 1000)
    return Figures(images=tuple(images.values()), captions=tuple(captions))


def _first_photos(photos: list[_Photo]) -> list[_Photo]:
    """The photos of the first MAX_FIGURES image URLs (a URL shown twice counts once)."""
    urls: set[str] = set()
    for count, photo in enumerate(photos):
        urls.add(photo.image.url)
        if len(urls) > MAX_FIGURES:
            return photos[:count]
    return photos


def split_credit(caption: str) -> tuple[str, str]:
    """Split "Police at the scene (AFP)" into ("Police at the scene", "AFP")."""
    match = _CREDIT_TAIL.search(caption)
    if not match or match.start() == 0:
        return caption, ""
    credit = (match.group(1) or match.group(2) or "").strip()
    if len(credit.split()) > 8:
        return caption, ""
    return caption[: match.start()].rstrip(" ,;:-–—|/"), credit


def is_credit(text: str) -> bool:
    """Whether the whole of ``text`` is a credit: "Photo: Jane Doe", "© AFP", "Jane Doe/AP"."""
    match = _CREDIT_TAIL.match(text)
    return bool(match) and len(text.split()) <= 10


def _holder_photos(
    holders: list[HtmlElement], base_url: str, used: set[HtmlElement]
) -> list[_Photo]:
    """Photos of figures, then of ImageObjects, data-caption and caption-classed holders."""
    photos: list[_Photo] = []
    for holder in holders[:MAX_CAPTIONS]:
        img = _holder_img(holder)
        if img in used or (img is None and "ImageObject" not in (holder.get("itemtype") or "")):
            continue
        photo = _holder_photo(holder, img, base_url)
        used.update(holder.iter("img"))
        if photo is not None:
            photos.append(photo)
    return photos


def _holder_img(holder: HtmlElement) -> HtmlElement | None:
    """The holder's first image; a block holding several that only a caption class marks
    (an article or gallery wrapper) has none of its own."""
    imgs = list(islice(holder.iter("img"), 2))
    if len(imgs) > 1 and holder.tag != "figure" and not _holds_photo(holder, classed=False):
        return None
    return imgs[0] if imgs else None


def _holds_photo(node: HtmlElement, *, classed: bool = True) -> bool:
    """A schema.org ImageObject, or an element with a data-caption (or a caption class)."""
    if "ImageObject" in (node.get("itemtype") or "") or node.get("data-caption") is not None:
        return True
    return classed and _classed(node, ("caption",))


def _holder_photo(holder: HtmlElement, img: HtmlElement | None, base_url: str) -> _Photo | None:
    url = _img_url(img, base_url) if img is not None else _meta_url(holder, base_url)
    if not url:
        return None
    node = next((n for xp in _INNER_CAPTION_XPATHS for n in holder.xpath(xp)[:1]), None)
    if node is None and _classed(holder, ("caption",)):
        node = holder  # div.wp-caption with an unmarked caption paragraph
    caption, credit = _text(node), _text(next(iter(holder.xpath(_CREDIT_XPATH)), None))
    if not (caption or credit or holder.tag == "figure" or " " in holder.get("data-caption", "")):
        return None  # a logo or an avatar
    return _photo(url, caption, credit, _said(holder, img))


def _line_photos(tree: HtmlElement, base_url: str, used: set[HtmlElement]) -> list[_Photo]:
    """Photos whose caption or credit line comes right after the image."""
    photos: list[_Photo] = []
    for img in islice(tree.iter("img"), MAX_IMAGE_TAGS):
        line = None if img in used else _next_line(_photo_box(img))
        photo = None if line is None else _line_photo(img, line, base_url)
        if photo is not None:
            photos.append(photo)
    return photos


def _line_photo(img: HtmlElement, line: HtmlElement, base_url: str) -> _Photo | None:
    if len(line) > 4 or _first_img(line) is not None or _is_icon(img, line):
        return None
    text = _text(line)
    credit = is_credit(text) or _classed(line, ("credit", "copyright"))
    if not text or len(text) > 1000 or not (credit or _captions(line)):
        return None
    url = _img_url(img, base_url)
    if not url:
        return None
    if credit:
        return _photo(url, "", text, _said(img, img))
    credit_line = _next_line(line)
    credit_text = _text(credit_line) if credit_line is not None else ""
    return _photo(url, text, credit_text if is_credit(credit_text) else "", "")


def _captions(line: HtmlElement) -> bool:
    """A line classed as a caption, or an inline one that ends its block (as under a photo)."""
    return _classed(line, _LINE_CLASSES) or _closes_block(line)


def _photo(url: str, shown_caption: str, shown_credit: str, said: str) -> _Photo:
    """A photo from its shown caption and credit texts, else what its attributes say."""
    caption, credit = _apart(shown_caption, shown_credit)
    cut = bool(credit) and not shown_credit  # the caption alone is not shown: keep it in
    if not caption:
        caption, said_credit = split_credit(said)
        credit = credit or said_credit
    shown: tuple[str, ...] = (shown_caption, shown_credit, "" if cut else caption)
    if shown_credit and not shown_caption.endswith(shown_credit):
        shown += (_clean(f"{shown_caption} {shown_credit}"),)  # two nodes, maybe one line
    return _Photo(image=Image(url=url, caption=caption, credit=credit), shown=shown)


def _apart(caption: str, credit: str) -> tuple[str, str]:
    """The caption without its credit, and the credit (from its own node, else the tail)."""
    if not credit:
        return split_credit(caption)
    if caption.endswith(credit):
        caption = caption[: -len(credit)].rstrip(" ,;:-–—|/")
    return caption, credit.strip(" ()")


def _said(holder: HtmlElement, img: HtmlElement | None) -> str:
    """The caption attributes say: ``data-caption`` (holder or image), ``title``, ``alt``."""
    for node, name in ((holder, "data-caption"), (img, "data-caption"), (img, "title")):
        value = _clean(node.get(name) or "") if node is not None else ""
        if value and " " in value:  # a phrase, not a file name
            return value
    return _clean(img.get("alt") or "") if img is not None else ""


def _img_url(img: HtmlElement, base_url: str) -> str:
    for candidate in _img_candidates(img):
        url = image_url(absolute_url(base_url, candidate)) if candidate else ""
        if url:
            return url
    return ""


def _img_candidates(img: HtmlElement) -> Iterator[str]:
    """src first, then lazy-loading attributes (src may be a data: placeholder), then the
    widest of the image's or its <picture> sources' srcset."""
    yield from (img.get(name) or "" for name in _IMAGE_SOURCES)
    parent = img.getparent()
    sources = parent.findall("source") if parent is not None and parent.tag == "picture" else []
    for node in (img, *sources):
        yield from (_widest(node.get(name) or "") for name in ("srcset", "data-srcset"))


def _widest(srcset: str) -> str:
    """The candidate of a ``srcset`` with the largest width or density ("" if none)."""
    best, size = "", -1.0
    for candidate in srcset.split(","):
        parts = candidate.split()
        descriptor = parts[1][:-1] if len(parts) > 1 else "1"
        width = float(descriptor) if descriptor.replace(".", "", 1).isdigit() else 0.0
        if parts and width > size:
            best, size = parts[0], width
    return best


def _meta_url(holder: HtmlElement, base_url: str) -> str:
    xpath = ".//*[@itemprop='url' or @itemprop='contentUrl']/@content"
    return next((u for c in holder.xpath(xpath) if (u := image_url(absolute_url(base_url, c)))), "")


def _photo_box(img: HtmlElement) -> HtmlElement:
    """The image, or the link, picture or block that holds nothing else (three levels)."""
    box = img
    for _ in range(3):
        parent = box.getparent()
        if parent is None or not _holds_only(parent, box):
            break
        box = parent
    return box


def _holds_only(parent: HtmlElement, child: HtmlElement) -> bool:
    """Whether ``child`` is all ``parent`` shows (next to a picture's <source> elements)."""
    if (parent.text or "").strip() or (child.tail or "").strip():
        return False
    return all(n is None or n.tag == "source" for n in (child.getprevious(), child.getnext()))


def _next_line(node: HtmlElement) -> HtmlElement | None:
    """The element right after ``node`` (past <br>), if no text stands between them."""
    while not (node.tail or "").strip():
        node = node.getnext()
        if node is None or not isinstance(node.tag, str):
            return None
        if node.tag != "br":
            return node
    return None


def _closes_block(line: HtmlElement) -> bool:
    """An inline line (<small>, <em>, <span>) of three words or more that ends its block."""
    if line.tag not in _INLINE_LINES or len(_text(line).split()) < 3:
        return False
    return line.getnext() is None and not (line.tail or "").strip()


def _is_icon(img: HtmlElement, line: HtmlElement) -> bool:
    """A small image, or one labelled inside a link or button (share and app icons)."""
    sizes = [img.get(name) or "" for name in ("width", "height")]
    if any(size.isdigit() and int(size) < 80 for size in sizes):
        return True
    parent = line.getparent()
    return parent is not None and parent.tag in ("a", "button", "label")


def _classed(node: HtmlElement, words: tuple[str, ...]) -> bool:
    classes = (node.get("class") or "").lower()
    return any(word in classes for word in words)


def _first_img(node: HtmlElement) -> HtmlElement | None:
    return next(node.iter("img"), None)  # the node itself when it is an image


def _text(node: HtmlElement | None) -> str:
    return _clean(node.text_content()) if node is not None else ""


def _clean(text: str) -> str:
    return " ".join(text.split())
