"""``newsflow bench ...``: benchmark commands that print figures."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Annotated

import msgspec
import redis
import typer

from pipeline.local.redis_server import start_redis
from workers.cli.kit import load_settings

bench_app = typer.Typer(
    help="Benchmarks that print figures (no timed tests).", no_args_is_help=True
)
DATA = Path(__file__).resolve().parent / "data"
"""The corpora vendored in the checkout (development data: not in the wheel or the image)."""
DEFAULT_CORPUS = DATA / "article-extraction-benchmark"
"""The article-extraction benchmark (bench/data; MIT, see its LICENSE)."""
EXTRACT_CORPORA = (DEFAULT_CORPUS, DATA / "trafilatura-eval")
"""What ``bench extract`` scores by default: the benchmark and trafilatura's evaluation set
(bench/data; Apache-2.0, see its LICENSE and NOTICE)."""


def _scored_corpus(folder: Path) -> Path:
    """The corpus option of the scored benches, checked: a clear error, not a crash."""
    if not (folder / "ground-truth.json").is_file() or not any((folder / "html").glob("*.html.gz")):
        raise typer.BadParameter(
            f"{folder} is not a benchmark corpus (ground-truth.json and html/*.html.gz); "
            "pass --corpus DIR"
        )
    return folder


def _pages_corpus(folder: Path) -> Path:
    """The corpus option of the pipeline bench: it needs pages it can serve."""
    from bench.corpus import load_corpus

    if not load_corpus(folder):
        raise typer.BadParameter(
            f"{folder} has no usable benchmark pages (html/*.html.gz); pass --corpus DIR"
        )
    return folder


def _extract_corpora(folders: list[Path] | None) -> list[Path]:
    """The corpus options of the extraction bench: folders, or names of vendored corpora."""
    from bench.corpus import corpus_kind

    chosen = [_vendored(folder) for folder in folders or EXTRACT_CORPORA]
    for folder in chosen:
        if corpus_kind(folder) is None:
            raise typer.BadParameter(
                f"{folder} is not a benchmark corpus (html/*.html.gz with ground-truth.json or "
                "evaldata.json); pass --corpus DIR or the name of a folder in bench/data"
            )
    return chosen


def _vendored(folder: Path) -> Path:
    """``folder``, or the vendored corpus of that name when no such folder exists here."""
    named = DATA / folder.name
    if not folder.exists() and folder == Path(folder.name) and named.is_dir():
        return named
    return folder


CorpusOption = Annotated[
    Path, typer.Option(help="Benchmark corpus folder.", callback=_scored_corpus)
]
PagesOption = Annotated[
    Path, typer.Option(help="Benchmark corpus folder (pages only).", callback=_pages_corpus)
]


@bench_app.command("dedupe")
def bench_dedupe(
    corpus: CorpusOption = DEFAULT_CORPUS,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Near-duplicate precision/recall on variants of the corpus pages, cost and memory."""
    from bench.dedupe import run_bench

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


@bench_app.command("pipeline")
def bench_pipeline(
    articles: Annotated[int, typer.Option(min=1, help="Distinct articles (URLs) to run.")] = 200,
    workers: Annotated[int, typer.Option(min=1, help="Worker pool processes (K).")] = 2,
    pool: Annotated[
        int | None, typer.Option(min=1, help="Pool processes if not K (references keep K).")
    ] = None,
    rate: Annotated[
        float, typer.Option(min=0, help="Feed articles at this rate per second (0: all at once).")
    ] = 0.0,
    limit_sample: Annotated[
        int, typer.Option(min=1, help="Articles run through the two references.")
    ] = 1000,
    limits: Annotated[bool, typer.Option(help="Also measure extraction-only and naive.")] = True,
    log_level: Annotated[str, typer.Option(help="Log level of worker and poller.")] = "INFO",
    env: Annotated[
        list[str] | None, typer.Option(help="NAME=VALUE for worker and poller (a tuning knob).")
    ] = None,
    worker_arg: Annotated[
        list[str] | None, typer.Option(help="Extra `celery worker` option, e.g. -O=fair.")
    ] = None,
    corpus: PagesOption = DEFAULT_CORPUS,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Whole pipeline (replay site, Redis, poller, K workers) against its extraction limit."""
    from bench.pipeline import BenchOptions, run_bench

    load_settings()
    options = BenchOptions(
        corpus=corpus,
        articles=articles,
        workers=workers,
        pool=pool,
        rate=rate,
        limit_sample=limit_sample,
        limits=limits,
        log_level=log_level.upper(),
        env=_pairs(env or []),
        worker_args=tuple(worker_arg or ()),
    )
    report = run_bench(options)
    if as_json:
        sys.stdout.write(msgspec.json.encode(report).decode() + "\n")
        return
    _print_nested(report)


def _pairs(items: list[str]) -> dict[str, str]:
    if any("=" not in item for item in items):
        raise typer.BadParameter("expected NAME=VALUE", param_hint="--env")
    return dict(item.split("=", 1) for item in items)


def _print_nested(figures: dict[str, object], indent: str = "") -> None:
    for name, value in figures.items():
        if isinstance(value, dict):
            typer.echo(f"{indent}{name}:")
            _print_nested(value, indent + "  ")
        else:
            typer.echo(f"{indent}{name:34} {value}")


@bench_app.command("extract")
def bench_extract(
    corpus: Annotated[
        list[Path] | None,
        typer.Option(
            help="Scored corpus folder, or the name of one in bench/data; repeat for several "
            "(default: article-extraction-benchmark and trafilatura-eval).",
            callback=_extract_corpora,
        ),
    ] = None,
    sample: Annotated[
        int | None, typer.Option(min=1, help="Only this many pages of each corpus, spread evenly.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Body-text F1/P/R and docs/s of newsflow and trafilatura on each corpus, and overall."""
    from bench.extract import run_bench as run_extract_bench
    from bench.figures import extract_lines

    figures = run_extract_bench(corpus or list(EXTRACT_CORPORA), load_settings(), sample=sample)
    if as_json:
        sys.stdout.write(msgspec.json.encode(figures).decode() + "\n")
        return
    for line in extract_lines(figures):
        typer.echo(line)


@bench_app.command("poll")
def bench_poll(
    feeds: Annotated[int, typer.Option(min=20, help="Feeds served and registered (N).")] = 10_000,
    pollers: Annotated[
        int, typer.Option(min=1, help="Poller processes (K); K > 1 also runs K = 1 first.")
    ] = 1,
    new_per_feed: Annotated[
        int, typer.Option(min=1, help="New entries per changing feed per round (M).")
    ] = 10,
    concurrency: Annotated[int, typer.Option(min=1, help="Poll threads per poller.")] = 8,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """K pollers over N local feeds (unchanged / new entries / errors): polls/s, CPU, Redis."""
    from bench.poll import PollBenchOptions, run_bench

    load_settings()
    options = PollBenchOptions(
        feeds=feeds, pollers=pollers, new_per_feed=new_per_feed, concurrency=concurrency
    )
    report = run_bench(options)
    if as_json:
        sys.stdout.write(msgspec.json.encode(report).decode() + "\n")
        return
    _print_nested(report)
