"""``geoseek bench ...`` commands (a typer sub-app mounted by geoseek.cli)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks through the real index and search engine.")


@bench_app.command("recall")
def recall(
    index: Annotated[Path, typer.Option("--index", help="Index directory holding exactly the split to score.")],
    dataset: Annotated[Path, typer.Option("--dataset", help="Karpathy-style dataset.json with the captions.")],
    split: Annotated[str, typer.Option(help="Split to score.")] = "test",
    levels: Annotated[Optional[str], typer.Option(help="Comma list of levels; 'global' alone is the baseline.")] = None,
    weights: Annotated[Optional[str], typer.Option(help="Level weights g,r,o (default: the index manifest's).")] = None,
    refine: Annotated[bool, typer.Option("--refine", help="Zoom refine on text->image.")] = False,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda")] = "auto",
    out: Annotated[Optional[Path], typer.Option("--out", help="Also write the JSON result here.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Text->image and image->text R@1/5/10 and mR over one split (JSON on stdout)."""
    from geoseek.bench.recall import BenchError, recall_benchmark
    from geoseek.cli import _engine, _fail, _levels, _setup_logging, _weights
    from geoseek.indexer import DatasetError
    from geoseek.search.engine import QueryError

    _setup_logging(False)
    engine = _engine(index, device)
    try:
        result = recall_benchmark(index, dataset, split, levels=_levels(levels), weights=_weights(weights),
                                  refine=refine, engine=engine, progress=not quiet)
    except (BenchError, DatasetError, QueryError, OSError) as exc:
        _fail(str(exc).splitlines()[0])
    text = json.dumps(result, indent=2)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
    typer.echo(text)
