"""The two body-text metrics of ``newsflow bench extract``: pure functions over texts.

**Shingles** (the article-extraction benchmark's, as ``shared/tools/score_extraction.py``
computes it): ``\\w+`` tokens (case kept), 4-gram shingles counted as a multiset, per-document
precision and recall (both empty or identical = 1.0), macro averages where an empty
prediction counts only against recall, F1 = harmonic mean of the two means.

**Snippets** (trafilatura's evaluation set, as ``shared/tools/score_snippets.py`` computes
it): after collapsing white space on both sides, a "with" snippet found in the text is a true
positive (else a false negative), a "without" snippet found is a false positive (else a true
negative); counts are summed over the corpus, then precision = TP/(TP+FP), recall =
TP/(TP+FN), F1 their harmonic mean. An empty snippet is never found.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

_WORD = re.compile(r"\w+")
_SPACES = re.compile(r"\s+")
Shingles = Counter[tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class DocScore:
    """Shingle counts of one prediction against the truth."""

    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        if self.fp == 0 and self.fn == 0:
            return 1.0
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        if self.fp == 0 and self.fn == 0:
            return 1.0
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0


@dataclass(frozen=True, slots=True)
class SnippetScore:
    """Snippets of one page found or missed: "with" (tp, fn) and "without" (fp, tn)."""

    tp: int
    fn: int
    fp: int
    tn: int


def shingles(text: str | None, n: int = 4) -> Shingles:
    """The multiset of n-grams of \\w+ tokens (a 1..n-1 token text is one shingle)."""
    tokens = _WORD.findall(text or "")
    if not tokens:
        return Counter()
    if len(tokens) < n:
        return Counter([tuple(tokens)])
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def score_doc(truth: str, prediction: str | None) -> DocScore:
    """Shingle true/false positives and false negatives of one prediction."""
    t, p = shingles(truth), shingles(prediction)
    return DocScore(sum((t & p).values()), sum((p - t).values()), sum((t - p).values()))


def aggregate(scores: list[DocScore]) -> dict[str, float]:
    """Macro precision (non-empty predictions), macro recall (non-empty truths) and F1."""
    precs = [s.precision for s in scores if s.tp + s.fp > 0]
    recs = [s.recall for s in scores if s.tp + s.fn > 0]
    p = statistics.fmean(precs) if precs else 0.0
    r = statistics.fmean(recs) if recs else 0.0
    return {"f1": _harmonic(p, r), "precision": p, "recall": r}


def collapse_spaces(text: str | None) -> str:
    """``text`` with every run of white space one space, stripped (the snippet matching form)."""
    return _SPACES.sub(" ", text or "").strip()


def score_snippets(
    present: Iterable[str], absent: Iterable[str], prediction: str | None
) -> SnippetScore:
    """Which "with" snippets (``present``) and "without" snippets (``absent``) the text holds."""
    text = collapse_spaces(prediction)
    found_present = [_found(s, text) for s in present]
    found_absent = [_found(s, text) for s in absent]
    return SnippetScore(
        tp=sum(found_present),
        fn=len(found_present) - sum(found_present),
        fp=sum(found_absent),
        tn=len(found_absent) - sum(found_absent),
    )


def aggregate_snippets(scores: list[SnippetScore]) -> dict[str, float]:
    """Micro precision, recall, F1 and accuracy over the summed counts of every page."""
    tp, fn = sum(s.tp for s in scores), sum(s.fn for s in scores)
    fp, tn = sum(s.fp for s in scores), sum(s.tn for s in scores)
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {
        "f1": _harmonic(p, r),
        "precision": p,
        "recall": r,
        "accuracy": (tp + tn) / max(1, tp + fn + fp + tn),
        "tp": tp,
        "fn": fn,
        "fp": fp,
        "tn": tn,
    }


def _found(snippet: str, text: str) -> bool:
    wanted = collapse_spaces(snippet)
    return bool(wanted) and wanted in text


def _harmonic(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0
