"""``newsflow bench``: a wrong corpus folder is a clear usage error, wherever it runs from."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import DEFAULT_CORPUS, EXTRACT_CORPORA, _extract_corpora
from tests.commands import ROOT


def test_the_default_corpus_is_beside_the_checkout_not_the_working_directory() -> None:
    assert ROOT / "bench" / "data" / "article-extraction-benchmark" == DEFAULT_CORPUS
    assert EXTRACT_CORPORA == (DEFAULT_CORPUS, ROOT / "bench" / "data" / "trafilatura-eval")


def test_extract_takes_the_name_of_a_vendored_corpus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert _extract_corpora([Path("trafilatura-eval")]) == [EXTRACT_CORPORA[1]]
    assert _extract_corpora(None) == list(EXTRACT_CORPORA)


@pytest.mark.parametrize(
    ("bench", "expected"),
    [
        ("pipeline", "has no usable benchmark pages"),
        ("extract", "is not a benchmark corpus"),
        ("dedupe", "is not a benchmark corpus"),
    ],
)
def test_a_folder_without_corpus_pages_exits_2_naming_it(
    bench: str, expected: str, tmp_path: Path
) -> None:
    (tmp_path / "html").mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "workers.cli.main", "bench", bench, "--corpus", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"},  # no wrapped message
    )
    assert done.returncode == 2
    assert expected in done.stderr and str(tmp_path) in done.stderr
