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
    except (BenchError, DatasetError, QueryError, ValueError, RuntimeError, OSError) as exc:
        _fail(str(exc).splitlines()[0])
    text = json.dumps(result, indent=2)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
    typer.echo(text)


@bench_app.command("tune-fusion")
def tune_fusion_cmd(
    index: Annotated[Path, typer.Option("--index", help="Index directory holding exactly the val split.")],
    dataset: Annotated[Path, typer.Option("--dataset", help="Karpathy-style dataset.json with the captions.")],
    split: Annotated[str, typer.Option(help="Split to tune on (never the test split you report).")] = "val",
    step: Annotated[float, typer.Option(min=0.01, max=0.5, help="Grid spacing on the weight simplex.")] = 0.1,
    to_checkpoint: Annotated[Optional[Path], typer.Option("--to-checkpoint", help="Also store the weights in this "
                             "geoseek checkpoint: new indexes built with it start from them.")] = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda")] = "auto",
    out: Annotated[Optional[Path], typer.Option("--out", help="Also write the JSON result (whole grid) here.")] = None,
) -> None:
    """Grid-search the global/region/object weights for val mR and write them into the index manifest."""
    from geoseek.bench.fusion import check_checkpoint, set_checkpoint_fusion, tune_fusion
    from geoseek.bench.recall import BenchError
    from geoseek.cli import _engine, _fail, _setup_logging
    from geoseek.indexer import DatasetError

    _setup_logging(False)
    if split == "test":
        typer.echo("warning: tuning on the test split makes its recall optimistic", err=True)
    engine = _engine(index, device)
    try:
        if to_checkpoint is not None:
            check_checkpoint(to_checkpoint)  # before anything is published
        result = tune_fusion(index, dataset, split, step=step, engine=engine)
        if to_checkpoint is not None:
            set_checkpoint_fusion(to_checkpoint, result["chosen"]["weights"])
    except (BenchError, DatasetError, ValueError, RuntimeError, OSError) as exc:
        _fail(str(exc).splitlines()[0])
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
    summary = {k: result[k] for k in ("split", "chosen", "global_only", "written_version", "n_queries")}
    typer.echo(json.dumps(summary, indent=2))
