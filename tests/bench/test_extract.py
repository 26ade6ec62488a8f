"""The extraction benchmark's metric and command, on a two-page corpus."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from bench.extract import aggregate, run_bench, score_doc
from pipeline.settings import Settings

PAGE = Path(__file__).resolve().parents[1] / "fixtures" / "pages" / "chunked-body.html"


def test_metric_follows_the_benchmark_definition() -> None:
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


def test_bench_extract_scores_both_extractors(tmp_path: Path) -> None:
    html = PAGE.read_text(encoding="utf-8")
    (tmp_path / "html").mkdir()
    truth = {}
    for doc_id in ("a", "b", "c"):
        (tmp_path / "html" / f"{doc_id}.html.gz").write_bytes(gzip.compress(html.encode()))
        truth[doc_id] = {"url": f"https://example.com/{doc_id}", "articleBody": "Volunteers"}
    (tmp_path / "ground-truth.json").write_text(json.dumps(truth), encoding="utf-8")
    figures = run_bench(tmp_path, Settings())
    assert figures["docs"] == 3
    for name in ("newsflow", "trafilatura", "trafilatura_json_metadata"):
        assert {"f1", "precision", "recall", "docs_per_s"} <= set(figures[name])
    checks = figures["newsflow_checks"]
    assert checks["articles"] == 3 and checks["published_found"] == 3
    assert checks["headline_first_line"] == 0 and checks["repeated_paragraph"] == 0
