"""Article ids as documented: an independent implementation of the rules in the README
("How `id` is computed") and in the schema's description of ``id``, written from the text
(no courlan, no pipeline.dedupe), against :func:`pipeline.dedupe.url_id`.

If this test fails, either the documentation or the id changed. Ids are the stream contract
and the dedupe keys: fix the documentation, never the value.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import re
from urllib.parse import quote, quote_plus, unquote_plus

import pytest

from pipeline.article.sanitize import as_uri
from pipeline.dedupe import canonical_url, url_id
from pipeline.schemas import schema_text
from tests.commands import ROOT

# Step 3: RFC 3986, appendix B (a scheme is a letter, then letters, digits, "+", "-", ".").
_SPLIT = re.compile(r"^(?:([A-Za-z][A-Za-z0-9+.\-]*):)?(?://([^/?#]*))?([^?#]*)(?:\?([^#]*))?")
# Step 8: query parameter names that are trackers (searched in the lower-cased name).
_TRACKERS = re.compile(
    r"^(?:dc|fbc|gc|twc|yc|ysc)lid|^(?:click|gbra|msclk|igsh|partner|wbra)id"
    r"|^(?:ads?|mc|ga|gs|itm|mc|mkt|ml|mtm|oly|pk|utm|vero)_"
    r"|(?:\b|_)(?:aff|affi|affiliate|campaign|cl?id|eid|ga|gl|kwd|keyword|medium|ref"
    r"|referr?er|session|source|uid|xtor)"
)
# Step 11.
_HOST_PREFIX = re.compile(r"^(?:www[0-9]?|m|mobile|amp)\.(?=[^.]+\.)")
# Step 12.
_AMP_SEGMENT = re.compile(r"/amp(?:/|$)")
_INDEX_PAGE = re.compile(r"/(?:index|default)\.(?:html?|php|aspx?|shtml|jsp)$")
# Step 13.
_AMP_PARAM = re.compile(r"^(?:amp(?:=[^&]*)?|outputType=amp|output=amp)$", re.IGNORECASE)
_PATH_SAFE = "/%!=:,-"  # besides ASCII letters, digits and "_.-~"


def documented_id(url: str) -> str:
    # 1. white space trimmed at both ends; 2. HTML character references decoded
    text = html.unescape(url.strip())
    # 3. tab, CR and LF removed; split into scheme, authority, path, query (fragment dropped)
    text = re.sub(r"[\t\r\n]", "", text)
    match = _SPLIT.match(text)
    assert match is not None
    scheme, authority, path, query = (g or "" for g in match.groups())
    # 4. scheme and authority lower-cased, xn-- labels decoded to Unicode
    scheme = scheme.lower()
    labels = []
    for label in authority.lower().split("."):
        if label.startswith("xn--"):
            with contextlib.suppress(UnicodeError):  # a label IDNA 2003 refuses stays
                label = label.encode("ascii").decode("idna")
        labels.append(label)
    authority = ".".join(labels)
    # 5. the scheme's default port removed
    if (scheme, _host_port(authority)[1]) in (("http", "80"), ("https", "443")):
        authority = re.sub(r"(?<=\w):(?:80|443)", "", authority)
    # 6. path: "/" runs collapsed, leading "/.." segments removed, percent-encoded
    path = re.sub(r"/+", "/", path)
    path = re.sub(r"^(?:/\.\.(?![^/]))+", "", path)
    path = quote(path, safe=_PATH_SAFE)
    # 7.-8. query: name=value pairs with a value, decoded, trackers removed, sorted by name
    values: dict[str, list[str]] = {}
    for piece in query.split("&"):
        name, equals, value = piece.partition("=")
        if not equals or not value:
            continue
        values.setdefault(unquote_plus(name), []).append(unquote_plus(value))
    query = "&".join(
        f"{quote_plus(name)}={quote_plus(value)}"
        for name in sorted(values)
        if not _TRACKERS.search(name.lower())
        for value in values[name]
    )
    # 9. an empty path with a query becomes "/"
    if query and not path:
        path = "/"
    # 10. (the fragment was dropped at step 3)
    # 11. host: user info and port parted, www./m./mobile./amp. prefix removed, port kept
    host, port = _host_port(authority)
    host = _HOST_PREFIX.sub("", host)
    if port and int(port) != 0:
        host = f"{host}:{int(port)}"
    # 12. path: AMP segments and index pages folded, trailing slashes removed
    path = _AMP_SEGMENT.sub("/", path)
    path = _INDEX_PAGE.sub("/", path)
    path = path.rstrip("/") or "/"
    # 13. query: empty parameters and AMP switches removed
    query = "&".join(p for p in query.split("&") if p and not _AMP_PARAM.match(p))
    # 14. http becomes https; 15. reassembled; 16. hex sha256 of the UTF-8 bytes
    if scheme == "http":
        scheme = "https"
    identity = f"{scheme}://{host}{path}" + (f"?{query}" if query else "")
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()


def _host_port(authority: str) -> tuple[str, str]:
    """Host and port of an authority: after the last "@"; an IPv6 host is in brackets,
    otherwise the port follows the first ":". A port that is not 1-5 digits is none."""
    hostport = authority.rpartition("@")[2]
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        port = rest.partition(":")[2]
    else:
        host, _, port = hostport.partition(":")
    return host, port if re.fullmatch(r"[0-9]{1,5}", port) and int(port) <= 65535 else ""


URLS = [
    "https://example.com/news/a",
    "http://example.com/news/a",
    "HTTP://Example.COM:80/news/a?utm_source=rss&utm_medium=feed&id=3&fbclid=x#top",
    "https://www.example.com/news/a/",
    "https://www2.example.com/news/a",
    "https://m.example.co.uk/news/a",
    "https://mobile.example.com/a",
    "https://amp.example.com/a/amp/",
    "https://www.example/a",  # a single label after www. keeps it
    "https://m.example/a",
    "https://example.com/news/amp/story",
    "https://example.com/amp",
    "https://example.com/a/index.html",
    "https://example.com/a/default.aspx",
    "https://example.com/a/INDEX.HTML",
    "https://example.com//a///b//",
    "https://example.com/../../a/b",
    "https://example.com/a/../b",
    "https://example.com:443/a",
    "https://example.com:8443/a/",
    "http://example.com:8080/a",
    "http://example.com:443/a",
    "https://user:pw@example.com/a",
    "https://example.com/a?b=2&a=1&a=0",
    "https://example.com/a?amp&x=1",
    "https://example.com/a?amp=1&outputType=amp&x=1",
    "https://example.com/a?output=AMP&x=",
    "https://example.com/a?idx=4&ref=home&session_id=9&page=2",
    "https://example.com/a?q=caf%C3%A9+au+lait&z=a%2Fb",
    "https://example.com/a?q=a b&r=é",
    "https://example.com?x=1",
    "https://example.com",
    "https://example.com/",
    "https://example.com/caf\u00e9/na\u00efve story",
    "https://example.com/%7Euser/it's",
    "https://example.com/a?x=1&amp;y=2",
    "  https://example.com/a\t\n  ",
    "https://xn--bcher-kva.example/a",
    "https://B\u00fccher.example/a",
    "https://example.com/a#section-2",
    "https://example.com/a?gclid=1&utm_campaign=x",
    "https://example.com/a;params?x=1",
    "https://news.example.com/2026/12/02/a-story-title-123.html",
    "https://[2001:db8::1]:8080/a",
]


@pytest.mark.parametrize("url", URLS)
def test_documented_rules_give_url_id(url: str) -> None:
    assert documented_id(url) == url_id(url)


@pytest.mark.parametrize("url", [u for u in URLS if "[" not in u])
def test_id_can_be_recomputed_from_the_published_canonical_url(url: str) -> None:
    """A consumer holds ``canonical_url`` as published (an ASCII URI: IDNA host, non-ASCII
    percent-encoded); the documented rules on it give the article's id."""
    canonical = canonical_url(url)
    published = as_uri(canonical)
    assert published.isascii()
    assert documented_id(published) == url_id(canonical)


def test_readme_and_schema_document_the_rules() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    schema = json.loads(schema_text(1))
    description = schema["properties"]["id"]["description"]
    assert "article id: sha256 of the canonical URL (" not in readme  # the old, wrong claim
    for text in (readme, description):
        assert "identity form" in text
        assert "https" in text and "www" in text and "amp" in text
    assert "identity form" in schema["properties"]["body"]["properties"]["id"]["description"]


def test_readme_example_of_an_identity_form() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"For example `([^`]+)` has the identity\s+form `([^`]+)`", readme)
    assert match is not None
    url, identity = match.groups()
    assert url_id(url) == hashlib.sha256(identity.encode()).hexdigest() == documented_id(url)


def test_a_deviation_character_host_is_the_documented_exception() -> None:
    """straße: the page's Unicode form is hashed, canonical_url holds its IDNA 2008 form,
    which IDNA 2003 ToUnicode refuses: recomputing from canonical_url gives another id."""
    canonical = canonical_url("https://straße.example/a")
    assert documented_id(canonical) == url_id(canonical)
    assert documented_id(as_uri(canonical)) != url_id(canonical)
