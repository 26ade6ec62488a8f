"""Printing articles for people (rich) or scripts (one JSON object per line)."""

from __future__ import annotations

import sys
from typing import Any

import msgspec
from rich.console import Console

_console = Console(highlight=False)


def print_article(article: dict[str, Any], *, pretty: bool) -> None:
    """Print one article: a JSON line, or a short readable block with ``pretty``."""
    if not pretty:
        sys.stdout.write(msgspec.json.encode(article).decode() + "\n")
        sys.stdout.flush()
        return
    source = article.get("source") or {}
    authors = ", ".join(article.get("authors") or []) or "unknown author"
    _console.print(f"[bold]{article.get('title', '')}[/bold]")
    _console.print(
        f"  {source.get('name', '')} · {authors} · {article.get('published_at') or 'no date'}"
        f" · {article.get('word_count', 0)} words"
    )
    _console.print(f"  [dim]{article.get('url', '')}[/dim]")
    text = str(article.get("text", ""))
    _console.print(f"  {text[:200]}{'…' if len(text) > 200 else ''}\n")


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
