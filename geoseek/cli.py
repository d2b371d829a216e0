"""The `geoseek` command line (typer)."""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help="GeoSeek: cross-modal search for remote-sensing archives.")
log = logging.getLogger("geoseek")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    logging.getLogger("geoseek").setLevel(logging.INFO if verbose else logging.WARNING)
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _levels(value: Optional[str]) -> Optional[list[str]]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


@app.command()
def index(
    src: Annotated[list[Path], typer.Argument(help="Image files, folders, dataset.json files or GeoTIFF tiles.")],
    index: Annotated[Path, typer.Option("--index", help="Index directory (created if missing).")],
    model: Annotated[Optional[str], typer.Option(help="Model spec; default: the index's model, else geoseek-default.")] = None,
    levels: Annotated[Optional[str], typer.Option(help="Comma list of global,region,object (global is required).")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Views per encoder batch.")] = 64,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda")] = "auto",
    shard_size: Annotated[int, typer.Option("--shard-size", min=1, help="Images per Parquet shard (the resume unit).")] = 512,
    catalog: Annotated[Optional[str], typer.Option(help="SQLAlchemy URL; default sqlite in the index directory.")] = None,
    mosaic: Annotated[bool, typer.Option("--mosaic/--no-mosaic", help="Index touching GeoTIFF tiles as one scene.")] = True,
    workers: Annotated[int, typer.Option(min=1, help="Threads that read and crop images.")] = 2,
    uniform: Annotated[bool, typer.Option("--uniform", help="Uniform native-resolution tiling instead of DRIS.")] = False,
    dris_threshold: Annotated[Optional[float], typer.Option("--dris-threshold", help="Cell complexity threshold.")] = None,
    dris_budget: Annotated[Optional[float], typer.Option("--dris-budget", help="Views per uniform tile (budget).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Index images at global, region and object scale into DIR (adds only new images)."""
    _setup_logging(not quiet)
    from geoseek.indexer import DatasetError, IndexSettingsError, run_index
    from geoseek.models import ModelSpecError
    from geoseek.schemas import DRISParams

    dris = None
    if uniform or dris_threshold is not None or dris_budget is not None:
        base = DRISParams()
        dris = DRISParams(complexity_threshold=base.complexity_threshold if dris_threshold is None else dris_threshold,
                          budget_per_tile=base.budget_per_tile if dris_budget is None else dris_budget, uniform=uniform)
    try:
        report = run_index(src, index, model=model, levels=_levels(levels), batch_size=batch_size, device=device,
                           shard_size=shard_size, catalog_url=catalog, dris=dris, mosaic=mosaic, workers=workers,
                           progress=not quiet)
    except (DatasetError, IndexSettingsError, ModelSpecError, ValueError, RuntimeError) as exc:
        _fail(str(exc))
    typer.echo(
        f"indexed {report.new_images} new image(s) ({report.views} vectors) in {report.seconds:.1f}s; "
        f"{report.already_indexed} already indexed; {len(report.skipped)} skipped; version {report.version}",
        err=True,
    )


@app.command()
def info(
    index: Annotated[Path, typer.Option("--index", help="Index directory.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    catalog: Annotated[Optional[str], typer.Option(help="SQLAlchemy URL of the catalog.")] = None,
) -> None:
    """Counts per level, views per image, model, versions and skipped inputs."""
    from geoseek.indexer.info import index_info

    try:
        data = index_info(index, catalog)
    except FileNotFoundError as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(json.dumps(data.model_dump(mode="json")))
        return
    typer.echo(f"index     {data.index}  (version {data.version}; versions: {', '.join(data.versions) or '-'})")
    if data.model:
        typer.echo(f"model     {data.model['id']}  dim {data.model['dim']}, input {data.model['image_size']} px")
    typer.echo(f"images    {data.images:,}    captions {data.captions:,}")
    typer.echo("views     " + "   ".join(f"{k} {v:,}" for k, v in data.views.items()))
    if data.pending_images:
        typer.echo(f"pending   {data.pending_images:,} image(s) from an unfinished run (published by the next `geoseek index`)")
    typer.echo("views per image (global + region):")
    peak = max(data.views_per_image.values(), default=1)
    for n, count in data.views_per_image.items():
        typer.echo(f"  {n:>5}  {count:>7,}  {'#' * max(1, round(40 * count / peak))}")
    typer.echo(f"skipped   {len(data.skipped)}")
    for s in data.skipped:
        typer.echo(f"  {s.path}: {s.reason}")


if __name__ == "__main__":
    app()
