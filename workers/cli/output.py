"""Printing articles for people (rich) or scripts (one JSON object per line)."""

from __future__ import annotations

import re
import sys
from typing import Any

import msgspec
from rich.console import Console
from rich.markup import escape

from pipeline.article.normalize import UNSAFE_CHARACTERS

_console = Console(highlight=False, emoji=False)
_TERMINAL_UNSAFE = f"[{UNSAFE_CHARACTERS}\x0b-\x0d\x1c-\x1f\x85\u2028\u2029\U000e0000-\U000e007f]"
_UNSAFE_IN_TEXT = re.compile(_TERMINAL_UNSAFE)
"""What a terminal must not receive raw: controls (ESC sequences clear the screen or set the
window title), bidi controls, line separators, tag characters. Newline and tab pass in text."""
_UNSAFE_IN_LINE = re.compile(f"{_TERMINAL_UNSAFE}|[\t\n]")
_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u206f\u2028\u2029]")
"""Characters JSON may hold raw (msgspec escapes C0 only): written as \\uXXXX escapes."""


def print_article(article: dict[str, Any], *, pretty: bool) -> None:
    """Print one article: a JSON line, or a short readable block with ``pretty``.

    Whatever the stream holds (entries written before newsflow removed control characters,
    or by another writer) is printed safely: in JSON, C1 controls, DEL, bidi controls and
    line separators as \\u escapes (the same JSON); in the readable block, every unsafe
    character as a visible escape such as ``\\x1b``, and no rich markup or emoji codes
    taken from the article.
    """
    if not pretty:
        line = _UNSAFE_IN_JSON.sub(_json_escape, msgspec.json.encode(article).decode())
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        return
    source = article.get("source")
    name = source.get("name", "") if isinstance(source, dict) else ""
    authors = article.get("authors")
    byline = ", ".join(map(_line, authors)) if isinstance(authors, list) else ""
    _console.print(f"[bold]{_line(article.get('title', ''))}[/bold]")
    _console.print(
        f"  {_line(name)} · {byline or 'unknown author'}"
        f" · {_line(article.get('published_at') or 'no date')}"
        f" · {_line(article.get('word_count', 0))} words"
    )
    _console.print(f"  [dim]{_line(article.get('url', ''))}[/dim]")
    text = str(article.get("text", ""))
    shown = escape(_UNSAFE_IN_TEXT.sub(_visible, text[:200]))
    _console.print(f"  {shown}{'…' if len(text) > 200 else ''}\n")


def _line(value: Any) -> str:
    """One value on one line, safe for the terminal and for rich markup."""
    return escape(_UNSAFE_IN_LINE.sub(_visible, str(value)))


def _visible(match: re.Match[str]) -> str:
    """An unsafe character as its Python escape: ESC as \\x1b, RLO as \\u202e."""
    return match.group().encode("unicode_escape", "backslashreplace").decode("ascii")


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def relative_time(when: float | None, now: float) -> str:
    """``in 12 s`` / ``40 s ago`` for a Unix time, ``-`` when there is none."""
    if when is None:
        return "-"
    delta = int(when - now)
    return f"in {delta} s" if delta >= 0 else f"{-delta} s ago"


def duration(seconds: float | None) -> str:
    """``45 min`` / ``6.0 h`` for a length of time, ``-`` when there is none."""
    if seconds is None:
        return "-"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
