"""Cleaning and parsing: pure functions, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime

from pipeline.parse import clean_body, declared_language, parse_authors, parse_datetime

HEADLINE = "US, Iraq Agree to Redeploy Coalition Forces"
CAPTION = "Officials of the International Coalition during a meeting in Baghdad (AFP)"
NOISY = "\n".join(
    [
        HEADLINE,
        "",
        CAPTION,
        CAPTION,
        "TT",
        "",
        HEADLINE,
        "",
        CAPTION,
        CAPTION,
        "",
        "Iraq’s Joint Operations Command announced the first technical meeting.",
        "Share",
        "12 comments",
        "Read more: Another story entirely",
        "The statement said that the US side reiterated its respect.",
        "Iraq’s Joint Operations Command announced the first technical meeting.",
    ]
)


def test_clean_body_removes_headline_echo_captions_repeats_and_ui_tokens() -> None:
    paragraphs = clean_body(NOISY, title=HEADLINE, captions=(CAPTION,)).split("\n\n")
    assert paragraphs == [
        "Iraq’s Joint Operations Command announced the first technical meeting.",
        "The statement said that the US side reiterated its respect.",
    ]


def test_clean_body_without_known_captions_keeps_one_copy() -> None:
    paragraphs = clean_body(NOISY, title=HEADLINE).split("\n\n")
    assert paragraphs.count(CAPTION) == 1 and HEADLINE not in paragraphs


def test_clean_body_normalises_unicode_and_spaces() -> None:
    text = "Cafe\u0301  con\u00a0leche\u200b  here\n\n\n  second   line "
    assert clean_body(text, title="") == "Café con leche here\n\nsecond line"


def test_parse_authors_splits_bylines() -> None:
    assert parse_authors("By Jane Doe and John Roe") == ("Jane Doe", "John Roe")
    assert parse_authors("Jane Doe; John Roe, Jane Doe") == ("Jane Doe", "John Roe")
    assert parse_authors("") == ()


def test_parse_datetime_to_utc() -> None:
    assert parse_datetime("2026-11-21T09:30:00+0100") == datetime(2026, 11, 21, 8, 30, tzinfo=UTC)
    assert parse_datetime("2026-11-21T08:30:00Z") == datetime(2026, 11, 21, 8, 30, tzinfo=UTC)
    assert parse_datetime("2026-11-21") == datetime(2026, 11, 21, tzinfo=UTC)
    assert parse_datetime("yesterday") is None and parse_datetime(None) is None


def test_declared_language() -> None:
    assert declared_language('<!doctype html><html class="x" lang="pt-BR">') == "pt"
    assert declared_language("<html>") is None
