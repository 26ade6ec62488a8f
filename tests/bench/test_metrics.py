"""The two body-text metrics of the extraction bench, on hand-made texts."""

from __future__ import annotations

import pytest

from bench.metrics import (
    SnippetScore,
    aggregate,
    aggregate_snippets,
    collapse_spaces,
    score_doc,
    score_snippets,
)


def test_shingles_follow_the_benchmark_definition() -> None:
    same = score_doc("one two three four five", "one two three four five")
    assert (same.precision, same.recall) == (1.0, 1.0)
    half = score_doc("a b c d e f", "a b c d x y")
    assert (half.tp, half.fp, half.fn) == (1, 2, 2)
    short = score_doc("a b", "a b")
    assert (short.tp, short.fp, short.fn) == (1, 0, 0)
    empty = score_doc("a b c d", "")
    figures = aggregate([same, empty])
    assert figures["precision"] == 1.0  # an empty prediction only costs recall
    assert figures["recall"] == pytest.approx(0.5)
    assert figures["f1"] == pytest.approx(2 * 1.0 * 0.5 / 1.5)


def test_snippets_match_after_collapsing_white_space() -> None:
    text = "The council  voted\non Monday.\n\nShare this story"
    score = score_snippets(
        present=["The council voted on\tMonday.", "It was close."],
        absent=["Share this  story", "Sign up"],
        prediction=text,
    )
    assert score == SnippetScore(tp=1, fn=1, fp=1, tn=1)
    assert collapse_spaces("  a \u00a0 b\n") == "a b"


def test_an_empty_snippet_or_prediction_finds_nothing() -> None:
    assert score_snippets(present=["", " "], absent=[""], prediction="text") == SnippetScore(
        tp=0, fn=2, fp=0, tn=1
    )
    assert score_snippets(present=["a"], absent=["b"], prediction=None) == SnippetScore(
        tp=0, fn=1, fp=0, tn=1
    )


def test_snippet_counts_are_summed_over_pages_before_dividing() -> None:
    figures = aggregate_snippets([SnippetScore(3, 1, 1, 2), SnippetScore(0, 2, 0, 1)])
    assert (figures["tp"], figures["fn"], figures["fp"], figures["tn"]) == (3, 3, 1, 3)
    assert figures["precision"] == pytest.approx(3 / 4)
    assert figures["recall"] == pytest.approx(3 / 6)
    assert figures["f1"] == pytest.approx(2 * 0.75 * 0.5 / 1.25)
    assert figures["accuracy"] == pytest.approx(6 / 10)
    assert aggregate_snippets([])["f1"] == 0.0
