"""The extraction bench on two small corpora of each kind: loading, figures and the report."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import msgspec
import pytest

from bench.corpus import corpus_kind, load_scored, spread_sample
from bench.extract import EXTRACTORS, run_bench
from bench.figures import OVERALL, extract_lines, overall_figures, speed_ratio
from pipeline.settings import Settings

PAGES = Path(__file__).resolve().parents[1] / "fixtures" / "pages"
PAGE = PAGES / "chunked-body.html"
FIRST = "Volunteers counted 1,240 grey seals on the sandbanks of the estuary last weekend,"
AD = "Get 50% off your first delivery today!"
STARTER = "A sourdough starter is easier to look after than most people think,"


def write_pages(folder: Path, names: list[str], page: Path = PAGE) -> None:
    (folder / "html").mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / "html" / f"{name}.html.gz").write_bytes(gzip.compress(page.read_bytes()))


def shingles_corpus(folder: Path) -> Path:
    write_pages(folder, ["a", "b", "c"])
    truth = {n: {"url": f"https://example.com/{n}", "articleBody": FIRST} for n in "abc"}
    (folder / "ground-truth.json").write_text(json.dumps(truth), encoding="utf-8")
    return folder


def snippets_corpus(folder: Path) -> Path:
    write_pages(folder, ["p1", "p2"])
    write_pages(folder, ["p3"], PAGES / "no-date.html")
    evaldata = {
        "https://example.org/p1": {"file": "p1.html.gz", "with": [FIRST], "without": [AD]},
        "hard::p2.html": {"file": "p2.html.gz", "with": [FIRST, "Not there."], "without": []},
        "https://example.org/p3": {"file": "p3.html.gz", "with": [STARTER], "without": [FIRST]},
    }
    (folder / "evaldata.json").write_text(json.dumps(evaldata), encoding="utf-8")
    return folder


def test_a_corpus_kind_comes_from_its_annotation_file(tmp_path: Path) -> None:
    assert corpus_kind(shingles_corpus(tmp_path / "news")) == "shingles"
    assert corpus_kind(snippets_corpus(tmp_path / "eval")) == "snippets"
    (tmp_path / "bare" / "html").mkdir(parents=True)
    (tmp_path / "bare" / "evaldata.json").write_text("{}")
    assert corpus_kind(tmp_path / "bare") is None  # no pages
    with pytest.raises(ValueError, match="not a scored corpus"):
        load_scored(tmp_path / "bare")


def test_snippet_pages_keep_their_snippets_and_a_url_only_when_keyed_by_one(
    tmp_path: Path,
) -> None:
    corpus = load_scored(snippets_corpus(tmp_path / "trafilatura-eval"))
    assert (corpus.name, corpus.kind) == ("trafilatura-eval", "snippets")
    first, second, _ = corpus.docs
    assert (first.doc_id, first.url, first.present, first.absent) == (
        "p1",
        "https://example.org/p1",
        (FIRST,),
        (AD,),
    )
    assert (second.doc_id, second.url) == ("p2", "")
    assert FIRST in first.html


def test_a_sample_is_spread_over_the_corpus(tmp_path: Path) -> None:
    assert spread_sample(list(range(10)), 3) == [0, 3, 6]
    assert spread_sample([1, 2], 5) == [1, 2]
    assert spread_sample([1, 2], None) == [1, 2]
    corpus = load_scored(shingles_corpus(tmp_path / "news"), sample=2)
    assert [d.doc_id for d in corpus.docs] == ["a", "b"]


def test_bench_extract_scores_each_corpus_with_its_metric(tmp_path: Path) -> None:
    folders = [shingles_corpus(tmp_path / "news"), snippets_corpus(tmp_path / "eval")]
    report = run_bench(folders, Settings())
    news, snippets = report["corpora"]["news"], report["corpora"]["eval"]
    assert (news["kind"], news["docs"], snippets["kind"], snippets["docs"]) == (
        "shingles",
        3,
        "snippets",
        3,
    )
    for name in EXTRACTORS:
        assert {"f1", "precision", "recall", "empty", "docs_per_s"} <= set(news[name])
    ours = snippets["newsflow"]
    assert (ours["tp"], ours["fn"], ours["fp"], ours["tn"]) == (3, 1, 0, 2)
    assert news["newsflow"]["recall"] == 1.0
    assert report["overall"]["newsflow"]["f1"] == pytest.approx(
        (news["newsflow"]["f1"] + ours["f1"]) / 2, abs=1e-4
    )
    checks = news["newsflow_checks"]
    assert checks["articles"] == 3 and checks["published_found"] == 3
    assert checks["headline_first_line"] == 0 and checks["repeated_paragraph"] == 0
    assert report["speed_ratio_vs_trafilatura_json_metadata"] > 0
    assert snippets["newsflow_checks"]["published_sources"] == {"meta": 2, "none": 1}
    assert msgspec.json.decode(msgspec.json.encode(report)) == report  # what --json prints


def test_a_run_of_some_extractors_leaves_the_others_out(tmp_path: Path) -> None:
    report = run_bench([snippets_corpus(tmp_path / "eval")], Settings(), extractors=["newsflow"])
    assert set(report["overall"]) == {"combined", "newsflow"}
    assert "speed_ratio_vs_trafilatura" not in report
    with pytest.raises(ValueError, match="unknown extractor"):
        run_bench([tmp_path / "eval"], Settings(), extractors=["boilerpipe"])


def row(f1: float, seconds: float, empty: int = 0) -> dict[str, float]:
    return {"f1": f1, "precision": f1, "recall": f1, "empty": empty, "seconds": seconds}


def test_overall_is_the_mean_of_the_corpora_and_speed_over_all_pages() -> None:
    corpora = {
        "a": {"kind": "shingles", "docs": 10, "x": row(0.9, 1.0, 1), "y": row(0.8, 2.0)},
        "b": {"kind": "snippets", "docs": 30, "x": row(0.7, 3.0, 2)},
    }
    overall = overall_figures(corpora, ["x", "y", "z"])
    assert overall["combined"] == OVERALL
    assert overall["x"] == {
        "f1": 0.8,
        "precision": 0.8,
        "recall": 0.8,
        "empty": 3,
        "seconds": 4.0,
        "docs_per_s": 10.0,
    }
    assert overall["y"]["docs_per_s"] == 5.0 and "z" not in overall
    assert speed_ratio(overall["x"], overall["y"]) == 0.5


def test_the_report_prints_a_block_per_corpus_then_overall_and_ratios() -> None:
    line = row(0.9, 1.0) | {"docs_per_s": 10.0}
    report = {
        "corpora": {
            "news": {"kind": "shingles", "docs": 10, "newsflow": line, "newsflow_checks": {"n": 1}}
        },
        "overall": {"combined": OVERALL, "newsflow": line},
        "speed_ratio_vs_trafilatura": 1.2,
    }
    lines = extract_lines(report)
    assert lines[0] == "news (10 pages, 4-gram shingle F1, macro)"
    assert lines[1].startswith("  newsflow ") and lines[1].endswith("  10.0 docs/s")
    assert "F1 0.9000  P 0.9000  R 0.9000  empty   0" in lines[1]
    assert lines[2:4] == ["  newsflow_checks:", f"    {'n':32} 1"]
    assert lines[4] == f"overall ({OVERALL})"
    assert lines[-1] == f"{'speed ratio vs trafilatura':36} 1.2"
