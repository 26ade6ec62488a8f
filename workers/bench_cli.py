"""``newsflow bench ...``: benchmark commands that print figures."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Annotated

import msgspec
import redis
import typer

from pipeline.embedded import start_redis
from workers.clikit import load_settings

bench_app = typer.Typer(
    help="Benchmarks that print figures (no timed tests).", no_args_is_help=True
)
DEFAULT_CORPUS = Path("../shared/corpus/article-extraction-benchmark")


@bench_app.command("dedupe")
def bench_dedupe(
    corpus: Annotated[Path, typer.Option(help="Benchmark corpus folder.")] = DEFAULT_CORPUS,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Near-duplicate precision/recall on variants of the corpus pages, cost and memory."""
    from pipeline.dedupe_bench import run_bench

    settings = load_settings()
    with tempfile.TemporaryDirectory(prefix="newsflow-bench-") as tmp:
        server = start_redis(Path(tmp), persistent=False)
        try:
            figures = run_bench(redis.Redis(port=server.port), corpus, settings)
        finally:
            server.stop()
    if as_json:
        sys.stdout.write(msgspec.json.encode(figures).decode() + "\n")
        return
    for name, value in figures.items():
        typer.echo(f"{name:36} {value}")
