"""`geoseek index` and `geoseek info`."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from geoseek.cli.common import IndexOpt, comma_list, fail, setup_logging, user_errors


def index(
    src: Annotated[list[str], typer.Argument(help="Image files, folders (class folders too), dataset jsons "
                                             "(Karpathy captions, COCO boxes), GeoTIFF tiles, STAC jsons, or "
                                             "http(s) URLs of (Cloud-Optimized) GeoTIFFs.")],
    index: Annotated[Path, typer.Option("--index", help="Index directory (created if missing).")],
    model: Annotated[Optional[str], typer.Option(help="Model spec; default: the index's model, else geoseek-default.")] = None,
    levels: Annotated[Optional[str], typer.Option(help="Comma list of global,region,object (global is required).")] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", min=1, help="Views per encoder batch (default: 64 on a GPU, 16 on a CPU).")] = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda")] = "auto",
    shard_size: Annotated[int, typer.Option("--shard-size", min=1, help="Images per Parquet shard (the resume unit).")] = 512,
    catalog: Annotated[Optional[str], typer.Option(help="SQLAlchemy URL; default sqlite in the index directory.")] = None,
    mosaic: Annotated[bool, typer.Option("--mosaic/--no-mosaic", help="Index touching GeoTIFF tiles as one scene.")] = True,
    workers: Annotated[int, typer.Option(min=1, help="Threads that read and crop images.")] = 2,
    uniform: Annotated[bool, typer.Option("--uniform", help="Uniform native-resolution tiling instead of DRIS.")] = False,
    dris_threshold: Annotated[Optional[float], typer.Option("--dris-threshold", help="Cell complexity threshold.")] = None,
    dris_budget: Annotated[Optional[float], typer.Option("--dris-budget", help="Views per uniform tile (budget).")] = None,
    split: Annotated[Optional[str], typer.Option("--split", help="Comma list: index only these splits of a dataset json "
                                                 "or of a <split>/<class>/ folder.")] = None,
    image_dir: Annotated[Optional[Path], typer.Option("--image-dir", help="Folder holding a dataset json's images "
                                                      "(default: found next to the json: RSICD_images/, images/, imgs/...).")] = None,
    wait: Annotated[float, typer.Option("--wait", min=0, help="Seconds to wait for another indexer of this index.")] = 0.0,
    engine: Annotated[str, typer.Option(help="local (threads here) | ray (Ray Data actors: one per GPU, or CPU workers).")] = "local",
    ray_address: Annotated[Optional[str], typer.Option("--ray-address", help="Ray cluster to join ('auto': the running one); "
                                                       "default: a local Ray.")] = None,
    bands: Annotated[Optional[str], typer.Option("--bands", help="Bands shown as RGB when the file does not say: "
                                                 "'4,3,2', '1' (grey) or a preset: sentinel2, landsat, rgbn, pan.")] = None,
    asset: Annotated[Optional[str], typer.Option("--asset", help="The asset of each STAC Item to index (default: "
                                                 "'visual', else one with red, green and blue bands, else three one-band "
                                                 "assets red, green, blue stacked), or three assets R,G,B to stack.")] = None,
    orientations: Annotated[Optional[int], typer.Option("--orientations", help="Orientations of each view the image tower "
                                                        "averages: 1, 2, 4 (quarter turns) or 8 (and mirrored); default: the "
                                                        "index's own, else what the model recommends.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Index images at global, region and object scale into DIR (adds only new images)."""
    setup_logging(not quiet)
    from geoseek.datasets.remote import as_source
    from geoseek.indexer import run_job
    from geoseek.models.orientations import orientation_group
    from geoseek.schemas import DRISParams
    from geoseek.schemas.jobs import IndexJob

    if engine not in ("local", "ray"):
        fail(f"--engine must be 'local' or 'ray'; got '{engine}'")
    if orientations is not None:
        try:
            orientation_group(orientations)
        except ValueError as exc:
            fail(f"--{exc}")
    with user_errors(catalog):
        dris = None
        if uniform or dris_threshold is not None or dris_budget is not None:
            base = DRISParams()
            dris = DRISParams(complexity_threshold=base.complexity_threshold if dris_threshold is None else dris_threshold,
                              budget_per_tile=base.budget_per_tile if dris_budget is None else dris_budget, uniform=uniform)
        job = IndexJob(sources=[as_source(s) for s in src], index=index, model=model, levels=comma_list(levels), batch_size=batch_size, device=device,
                       shard_size=shard_size, catalog_url=catalog, dris=dris, mosaic=mosaic, workers=workers,
                       progress=not quiet, splits=comma_list(split), wait_s=wait, engine=engine, ray_address=ray_address,
                       image_dir=image_dir, bands=bands, asset=asset, orientations=orientations)
        report = run_job(job)
    typer.echo(
        f"indexed {report.new_images} new image(s) ({report.views} vectors) in {report.seconds:.1f}s; "
        f"{report.already_indexed} already indexed; {len(report.skipped)} skipped; version {report.version}",
        err=True,
    )



def info(
    index: IndexOpt,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    catalog: Annotated[Optional[str], typer.Option(help="SQLAlchemy URL of the catalog.")] = None,
) -> None:
    """Counts per level, views per image, model, versions and skipped inputs."""
    from geoseek.index.info import index_info

    with user_errors(catalog):
        data = index_info(index, catalog)
    if as_json:
        typer.echo(json.dumps(data.model_dump(mode="json")))
        return
    typer.echo(f"index     {data.index}  (version {data.version}; versions: {', '.join(data.versions) or '-'})")
    if data.model:
        typer.echo(f"model     {data.model['id']}  dim {data.model['dim']}, input {data.model['image_size']} px, "
                   f"{data.model.get('orientations', 1)} orientation(s) averaged")
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
