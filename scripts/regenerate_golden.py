"""Rewrite the golden extraction files (tests/fixtures/golden/*.json) for review in the diff.

Usage: .venv/bin/python scripts/regenerate_golden.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.article.test_extract import GOLDEN_DIR, golden_cases, golden_view  # noqa: E402


def main() -> None:
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    for name, page_file, url in golden_cases():
        view = golden_view(page_file, url)
        text = json.dumps(view, indent=2, ensure_ascii=False) + "\n"
        (GOLDEN_DIR / f"{name}.json").write_text(text, encoding="utf-8")
        print(f"wrote {name}.json")


if __name__ == "__main__":
    main()
