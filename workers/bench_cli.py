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


@bench_app.command("extract")
def bench_extract(
    corpus: Annotated[Path, typer.Option(help="Benchmark corpus folder.")] = DEFAULT_CORPUS,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Body-text F1/precision/recall and docs/s of newsflow and plain trafilatura."""
    from pipeline.extract_bench import run_bench as run_extract_bench

    figures = run_extract_bench(corpus, load_settings())
    if as_json:
        sys.stdout.write(msgspec.json.encode(figures).decode() + "\n")
        return
    for name in ("newsflow", "trafilatura", "trafilatura_json_metadata"):
        row = figures[name]
        typer.echo(
            f"{name:26} F1 {row['f1']:.4f}  P {row['precision']:.4f}  R {row['recall']:.4f}"
            f"  empty {row['empty']:3}  {row['docs_per_s']:6.1f} docs/s"
        )
    typer.echo(f"{'speed ratio vs trafilatura':36} {figures['speed_ratio_vs_trafilatura']}")
    typer.echo(
        f"{'speed ratio vs json+metadata':36} {figures['speed_ratio_vs_trafilatura_json_metadata']}"
    )
    for name, value in figures["newsflow_checks"].items():
        typer.echo(f"{name:36} {value}")
