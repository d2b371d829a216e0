"""The `geoseek` command line (typer)."""
from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from geoseek.bench.cli import bench_app
from geoseek.ui.cli import demo as demo_command, ui as ui_command

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
    src: Annotated[list[Path], typer.Argument(help="Image files, folders (class folders too), dataset jsons "
                                              "(Karpathy captions, COCO boxes) or GeoTIFF tiles.")],
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
    split: Annotated[Optional[str], typer.Option("--split", help="Comma list: index only these splits of a dataset json "
                                                 "or of a <split>/<class>/ folder.")] = None,
    image_dir: Annotated[Optional[Path], typer.Option("--image-dir", help="Folder holding a dataset json's images "
                                                      "(default: found next to the json: RSICD_images/, images/, imgs/...).")] = None,
    wait: Annotated[float, typer.Option("--wait", min=0, help="Seconds to wait for another indexer of this index.")] = 0.0,
    engine: Annotated[str, typer.Option(help="local (threads here) | ray (Ray Data actors: one per GPU, or CPU workers).")] = "local",
    ray_address: Annotated[Optional[str], typer.Option("--ray-address", help="Ray cluster to join ('auto': the running one); "
                                                       "default: a local Ray.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Index images at global, region and object scale into DIR (adds only new images)."""
    _setup_logging(not quiet)
    from geoseek.indexer import DatasetError, IndexSettingsError, run_index
    from geoseek.models import ModelSpecError
    from geoseek.schemas import DRISParams

    from pydantic import ValidationError
    from sqlalchemy.exc import SQLAlchemyError

    if engine not in ("local", "ray"):
        _fail(f"--engine must be 'local' or 'ray'; got '{engine}'")
    try:
        dris = None
        if uniform or dris_threshold is not None or dris_budget is not None:
            base = DRISParams()
            dris = DRISParams(complexity_threshold=base.complexity_threshold if dris_threshold is None else dris_threshold,
                              budget_per_tile=base.budget_per_tile if dris_budget is None else dris_budget, uniform=uniform)
        report = run_index(src, index, model=model, levels=_levels(levels), batch_size=batch_size, device=device,
                           shard_size=shard_size, catalog_url=catalog, dris=dris, mosaic=mosaic, workers=workers,
                           progress=not quiet, splits=_levels(split), wait_s=wait, engine=engine, ray_address=ray_address,
                           image_dir=image_dir)
    except ValidationError as exc:
        err = exc.errors()[0]
        _fail(f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}")
    except SQLAlchemyError as exc:
        _fail(f"catalog {catalog or '(default)'}: {str(exc).splitlines()[0]}")
    except (DatasetError, IndexSettingsError, ModelSpecError, ValueError, RuntimeError, OSError, ImportError) as exc:
        _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
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


search_app = typer.Typer(no_args_is_help=True, help="Search an index by text or by image.")
app.add_typer(search_app, name="search")
app.add_typer(bench_app, name="bench")
store_app = typer.Typer(no_args_is_help=True, help="Vector stores other than the index's own FAISS files.")
app.add_typer(store_app, name="store")
app.command("ui")(ui_command)
app.command("demo")(demo_command)


def _weights(value: Optional[str]):
    if not value:
        return None
    from geoseek.schemas.search import Weights

    try:
        g, r, o = (float(v) for v in value.split(","))
        return Weights(**{"global": g, "region": r, "object": o})
    except ValueError:  # includes pydantic's ValidationError (e.g. a negative weight)
        _fail(f"--weights '{value}' must be three non-negative numbers g,r,o")


def _filters(bbox: Optional[str], start: Optional[str], end: Optional[str], collection: Optional[list[str]]):
    from datetime import datetime

    from geoseek.search import Filters, parse_bbox

    try:
        return Filters(bbox=parse_bbox(bbox) if bbox else None, start=datetime.fromisoformat(start) if start else None,
                       end=datetime.fromisoformat(end) if end else None, collections=tuple(collection or ()))
    except ValueError as exc:
        _fail(str(exc))


def _print_results(resp, as_json: bool) -> None:
    if as_json:
        typer.echo(resp.model_dump_json(by_alias=True))
        return
    typer.echo(f"version {resp.version}  levels {','.join(resp.levels)}  {resp.took_ms:.0f} ms")
    for i, hit in enumerate(resp.results, 1):
        scores = " ".join(f"{k[0]}={v:.3f}" for k, v in hit.level_scores.items())
        if hasattr(hit, "text"):
            typer.echo(f"{i:>3}. {hit.score:.4f}  [{scores}]  {hit.text}  ({hit.image_id})")
        else:
            rb = hit.region_box
            where = f" region {rb.x0},{rb.y0},{rb.x1},{rb.y1}" if rb else ""
            typer.echo(f"{i:>3}. {hit.score:.4f}  [{scores}]  {hit.path}{where}")


def _engine(index: Path, device: str, store: Optional[str] = None):
    from geoseek.search import SearchEngine
    from geoseek.search.vector_store import StoreError

    try:
        return SearchEngine(index, device=device, store=store)
    except (FileNotFoundError, StoreError) as exc:
        _fail(str(exc))


LevelsOpt = Annotated[Optional[str], typer.Option(help="Comma list of levels; 'global' alone is the baseline.")]
WeightsOpt = Annotated[Optional[str], typer.Option(help="Level weights g,r,o (default: the index manifest's).")]
BboxOpt = Annotated[Optional[str], typer.Option(help="WGS84 minx,miny,maxx,maxy that a view must intersect.")]
StoreOpt = Annotated[Optional[str], typer.Option(help="Vector store: faiss (default, the index's own indices), "
                     "milvus://host:port[?index=HNSW] or a Milvus Lite file path ending in .db.")]


@search_app.command("text")
def search_text(
    query: Annotated[str, typer.Argument(help="What to look for, in words.")],
    index: Annotated[Path, typer.Option("--index", help="Index directory.")],
    k: Annotated[int, typer.Option("-k", help="Number of results.")] = 10,
    levels: LevelsOpt = None,
    weights: WeightsOpt = None,
    bbox: BboxOpt = None,
    start: Annotated[Optional[str], typer.Option(help="Earliest image datetime (ISO 8601).")] = None,
    end: Annotated[Optional[str], typer.Option(help="Latest image datetime (ISO 8601).")] = None,
    collection: Annotated[Optional[list[str]], typer.Option(help="Only these collections (repeatable).")] = None,
    refine: Annotated[bool, typer.Option("--refine", help="Zoom refine the top hits.")] = False,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda (cpu also keeps FAISS on the CPU)")] = "auto",
    store: StoreOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object with a results list.")] = False,
) -> None:
    """Text -> image search with hierarchical fusion."""
    _setup_logging(False)
    from geoseek.search import FilterError, QueryError
    from geoseek.search.vector_store import StoreError

    engine = _engine(index, device, store)
    try:
        resp = engine.search_text(query, k=k, levels=_levels(levels), weights=_weights(weights),
                                  filters=_filters(bbox, start, end, collection), refine=refine)
    except (QueryError, StoreError, FilterError) as exc:
        _fail(str(exc))
    _print_results(resp, as_json)


@search_app.command("image")
def search_image(
    image: Annotated[str, typer.Argument(help="An image file, or the id of an indexed image.")],
    index: Annotated[Path, typer.Option("--index", help="Index directory.")],
    target: Annotated[str, typer.Option(help="images (similar images) | texts (captions)")] = "images",
    k: Annotated[int, typer.Option("-k", help="Number of results.")] = 10,
    levels: LevelsOpt = None,
    weights: WeightsOpt = None,
    bbox: BboxOpt = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda (cpu also keeps FAISS on the CPU)")] = "auto",
    store: StoreOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object with a results list.")] = False,
) -> None:
    """Image -> image or image -> text search, by file or by indexed image id."""
    _setup_logging(False)
    from geoseek.search import FilterError, QueryError, QueryImageError, UnknownImageError
    from geoseek.search.vector_store import StoreError

    engine = _engine(index, device, store)
    path = Path(image)
    query: bytes | str = path.read_bytes() if path.is_file() else image
    try:
        resp = engine.search_image(query, target=target, k=k, levels=_levels(levels), weights=_weights(weights),
                                   filters=_filters(bbox, None, None, None))
    except UnknownImageError:
        _fail(f"'{image}' is neither a file nor an indexed image id")
    except (QueryError, QueryImageError, StoreError, FilterError) as exc:
        _fail(str(exc))
    _print_results(resp, as_json)


@app.command()
def serve(
    index: Annotated[Path, typer.Option("--index", help="Index directory.")],
    host: Annotated[str, typer.Option(help="Bind address (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda (cpu also keeps FAISS on the CPU)")] = "auto",
    catalog: Annotated[Optional[str], typer.Option(help="SQLAlchemy URL of the catalog.")] = None,
    store: StoreOpt = None,
    api_key: Annotated[Optional[str], typer.Option(envvar="GEOSEEK_API_KEY", help="Require this X-API-Key header.")] = None,
) -> None:
    """Serve the search API (FastAPI on uvicorn); OpenAPI docs at /docs."""
    _setup_logging(True)
    import uvicorn

    from geoseek.search.api import ApiSettings, create_app

    if not _published(index):
        _fail(f"no GeoSeek index at {index}")
    from geoseek.search.vector_store import StoreError, check_store_spec

    try:
        check_store_spec(store)
    except StoreError as exc:
        _fail(str(exc))
    settings = ApiSettings(index=index, device=device, catalog=catalog, store=store, api_key=api_key)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


@store_app.command("sync")
def store_sync(
    index: Annotated[Path, typer.Option("--index", help="Index directory.")],
    store: Annotated[str, typer.Option(help="milvus://host:port[?index=...] or a Milvus Lite file path ending in .db.")],
    catalog: Annotated[Optional[str], typer.Option(help="SQLAlchemy URL of the catalog.")] = None,
) -> None:
    """Create and fill the current version's Milvus collections now (after `geoseek index`), so that
    API replicas find them complete instead of filling them on start-up."""
    _setup_logging(False)
    from geoseek.search.state import IndexState
    from geoseek.search.vector_store import StoreError, check_store_spec, is_milvus

    if not _published(index):
        _fail(f"no GeoSeek index at {index}")
    try:
        if not is_milvus(check_store_spec(store)):
            _fail("store sync fills a Milvus store; the FAISS indices are in the index directory already")
        t = time.perf_counter()
        state = IndexState.load(index, catalog, store, gpu=False)
    except StoreError as exc:
        _fail(str(exc))
    milvus = state.store
    for name, added in milvus.added.items():
        typer.echo(f"{name}: {milvus.count(name)} rows ({added} added)")
    typer.echo(f"version {state.version} ready in {store} ({time.perf_counter() - t:.1f}s)")
    milvus.close()


def _published(path: Path) -> bool:
    from geoseek.indexer.store import IndexDir

    return IndexDir(path).current() is not None



@app.command()
def train(
    data: Annotated[Path, typer.Option("--data", help="Karpathy-style dataset.json with train/val splits.")],
    out: Annotated[Path, typer.Option("--out", help="Run directory: best.pt, last.pt, history.json.")],
    model: Annotated[str, typer.Option(help="Model spec to start from.")] = "geoseek-default:random",
    epochs: Annotated[Optional[int], typer.Option(min=1, help="Default 20, or the resumed run's own.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=2)] = 128,
    lr: Annotated[float, typer.Option(min=0.0)] = 2e-3,
    weight_decay: Annotated[float, typer.Option("--weight-decay", min=0.0)] = 0.05,
    loss_weights: Annotated[str, typer.Option("--loss-weights", help="Weights of the global,region,object losses.")] = "1,0.5,0.5",
    patience: Annotated[Optional[int], typer.Option(min=1, help="Stop after this many epochs without a better val mR "
                                                    "(default 4, or the resumed run's own).")] = None,
    seed: Annotated[int, typer.Option()] = 0,
    train_split: Annotated[str, typer.Option("--train-split")] = "train",
    val_split: Annotated[str, typer.Option("--val-split")] = "val",
    limit: Annotated[Optional[int], typer.Option(min=2, help="Use only the first N images of each split.")] = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda")] = "auto",
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its last.pt.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Train a model with the MS-VLAM multi-level contrastive loss; writes OUT/best.pt (a model spec)."""
    _setup_logging(True)
    from geoseek.indexer import DatasetError
    from geoseek.models import ModelSpecError
    from geoseek.models.training import LossWeights, TrainConfig, Trainer

    try:
        weights = LossWeights.parse(loss_weights)
        cfg = TrainConfig(dataset=str(data), model=model, out=str(out), epochs=epochs, batch_size=batch_size, lr=lr,
                          weight_decay=weight_decay, loss_weights=(weights.glob, weights.region, weights.object),
                          seed=seed, patience=patience, train_split=train_split, val_split=val_split, limit=limit,
                          device=device)
        result = Trainer(cfg, resume=resume, progress=not quiet).run()
    except (DatasetError, ModelSpecError, ValueError, FileExistsError, FileNotFoundError, RuntimeError, OSError) as exc:
        _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    best = result.best_val
    typer.echo(f"trained {result.epochs_run} epoch(s) in {result.seconds:.0f}s"
               f"{' (early stop)' if result.stopped_early else ''}; best val mR {best.get('val_mR', float('nan')):.2f} "
               f"at epoch {result.best_epoch}; model: {result.checkpoint}", err=True)


if __name__ == "__main__":
    app()
