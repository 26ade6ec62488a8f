"""Language of a text, detected from its script and common words (no model, no I/O).

A small heuristic: non-Latin scripts decide alone; Latin-script text is scored on the most
frequent function words of a few dozen languages. Returns None when unsure.
"""

from __future__ import annotations

import re
from collections import Counter

_STOPWORDS: dict[str, frozenset[str]] = {
    lang: frozenset(words.split())
    for lang, words in {
        "en": "the and of to in is that for it with was on are as be this by have from",
        "de": "der die und das ist nicht mit den sich des auf ein eine auch für dem von",
        "fr": "le la les et des est une dans pour que qui pas sur avec sont du au ce de",
        "es": "el la los las y que en del por con una para es se lo como más pero de",
        "pt": "o os as e que do da em um uma para com não no na dos das se por de",
        "it": "il di che la e le un per non una sono gli con del della nel anche",
        "nl": "de het een en van is dat op te zijn niet met voor die ook aan er",
        "id": "yang dan di ini itu dengan untuk dari tidak dalam akan pada juga ke",
        "sv": "och att det som en på är av för med till den inte har om var",
        "da": "og at det som en på er af for med til den ikke har om var",
        "no": "og at det som en på er av for med til den ikke har om var",
        "pl": "i w na nie z się do że to jest o jak co po",
        "tr": "ve bir bu da de için ile çok olarak daha ama gibi",
        "ro": "și în de la cu că nu este pe din o sunt mai",
        "cs": "je v na se že to s z do jsou jako",
    }.items()
}
_WORD = re.compile(r"[^\W\d_]+")


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of ``text``'s language, or None when unsure."""
    sample = text[:4000]
    script = _script(sample)
    if script:
        return script
    words = Counter(w.casefold() for w in _WORD.findall(sample))
    scores = {lang: sum(words[w] for w in stop) for lang, stop in _STOPWORDS.items()}
    best = max(scores, key=lambda lang: scores[lang])
    total = sum(words.values())
    if not total or scores[best] < max(3, total * 0.08):
        return None
    return best


def normalize_language(code: str) -> str | None:
    """A declared language ("pt-BR", "en_US") as its ISO 639 code ("pt", "en"), or None."""
    match = re.match(r"^\s*([a-zA-Z]{2,3})(?:$|[-_])", code or "")
    return match.group(1).lower() if match else None


def _script(sample: str) -> str | None:
    sample = sample[:1500]
    counts = Counter({name: len(pattern.findall(sample)) for name, pattern in _SCRIPTS.items()})
    total = len(_LETTER.findall(sample))
    script, count = counts.most_common(1)[0]
    if not total or not count:
        return None
    if count < total * 0.3:
        return None
    if script == "han" and counts.get("kana", 0) > total * 0.02:
        return "ja"
    if script == "cyrillic" and re.search(r"[іїєґ]", sample):
        return "uk"
    if script == "arabic" and re.search(r"[پچژگ]", sample):
        return "fa"
    return _SCRIPT_LANGUAGE.get(script)


_SCRIPT_LANGUAGE = {
    "han": "zh",
    "kana": "ja",
    "hangul": "ko",
    "cyrillic": "ru",
    "arabic": "ar",
    "greek": "el",
    "hebrew": "he",
    "thai": "th",
    "devanagari": "hi",
}
_SCRIPTS = {
    name: re.compile(f"[{low}-{high}]")
    for low, high, name in (
        ("\u0370", "\u03ff", "greek"),
        ("\u0400", "\u04ff", "cyrillic"),
        ("\u0590", "\u05ff", "hebrew"),
        ("\u0600", "\u06ff", "arabic"),
        ("\u0900", "\u097f", "devanagari"),
        ("\u0e00", "\u0e7f", "thai"),
        ("\u3040", "\u30ff", "kana"),
        ("\u4e00", "\u9fff", "han"),
        ("\uac00", "\ud7af", "hangul"),
    )
}
_LETTER = re.compile(r"[^\W\d_]")
