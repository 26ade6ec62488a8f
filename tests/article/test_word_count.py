"""word_count as documented (schema and README): wide characters are one word each; the rest,
split at white space and around them, is one word per piece with a letter, digit or "_"."""

from __future__ import annotations

import json
import re

import pytest

from pipeline.article.extract import count_words
from pipeline.schemas import schema_text

_WIDE = re.compile("[\u3040-\u9fff\uac00-\ud7af\uf900-\ufaff]")


def documented_count(text: str) -> int:
    """Written from the schema's description, without the extractor's regex."""
    count = 0
    for piece in text.split():  # str.split(): Unicode white space
        parts = _WIDE.split(piece)
        count += len(_WIDE.findall(piece))
        count += sum(1 for part in parts if any(c.isalnum() or c == "_" for c in part))
    return count


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("The quick brown fox.", 4),
        ("Prices rose 3.5 % - a record | sources say …", 7),
        ("— • | … – ***", 0),
        ("e-mail co-op don't 2026-12-02", 4),
        ("snake_case _ __", 3),
        ("日本語のテキスト", 8),
        ("Tokyo東京2026年", 5),
        ("한국어 문장", 5),
        ("mixed 日本 text, ok?", 5),
        ("tab\tseparated\nlines\u00a0and\u2003em spaces", 6),
        ("Ελληνικά κείμενα ٣٤", 3),
        ("", 0),
    ],
)
def test_word_count_follows_the_documented_rule(text: str, words: int) -> None:
    assert count_words(text) == words
    assert documented_count(text) == words


def test_schema_describes_the_rule() -> None:
    schema = json.loads(schema_text(1))
    description = schema["properties"]["body"]["properties"]["word_count"]["description"]
    assert "white-space separated" not in description
    assert "U+3040-U+9FFF" in description and "letter, digit or underscore" in description
