"""``newsflow tail`` output (workers/cli/output.py) is safe whatever the stream holds.

Entries published before control characters were removed (issue #15), or written by another
tool, may hold ESC sequences, BEL, C1 and bidi controls: printed raw they clear the screen or
set the window title. (Here beside the article tests: these are the published fields' other
half.)
"""

from __future__ import annotations

import json
import re

import pytest

from workers.cli.output import print_article

OLD_ENTRY = {
    "title": "Big \x1b[2J\x1b]0;owned\x07 news [bold red]x[/] :smile: \u202eevil",
    "authors": ["Ann\x9b31m Lee", 7],
    "source": {"name": "Gazette\x00"},
    "url": "https://x.example/a\nFAKE LINE",
    "text": "One para.\n\nTwo\x1b[31m para\u2066.",
    "published_at": None,
    "word_count": 4,
}
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def test_pretty_output_prints_unsafe_characters_as_visible_escapes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    print_article(OLD_ENTRY, pretty=True)
    out = capsys.readouterr().out
    assert not RAW.search(out), repr(out)
    assert "Big \\x1b[2J\\x1b]0;owned\\x07 news" in out
    assert "[bold red]x[/] :smile: \\u202eevil" in out  # no rich markup, no emoji codes
    assert "Ann\\x9b31m Lee, 7" in out and "Gazette\\x00" in out
    assert "https://x.example/a\\nFAKE LINE" in out  # one field, one line
    assert "One para.\n\nTwo\\x1b[31m para\\u2066." in out  # the text keeps its newlines


def test_pretty_output_survives_fields_of_the_wrong_type(
    capsys: pytest.CaptureFixture[str],
) -> None:
    print_article({"title": 5, "authors": "not a list", "source": "nor a dict"}, pretty=True)
    assert "unknown author" in capsys.readouterr().out


def test_json_output_escapes_c1_and_bidi_controls_and_stays_the_same_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    print_article(OLD_ENTRY, pretty=False)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and not RAW.search(out), repr(out)
    assert "\\u009b" in out and "\\u202e" in out
    assert json.loads(out) == OLD_ENTRY
