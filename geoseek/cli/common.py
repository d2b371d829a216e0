"""What the `geoseek` commands share: logging, the one way to fail, option parsers, opening an engine."""
from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, NoReturn, Optional

import typer

log = logging.getLogger("geoseek")

def setup_logging(verbose: bool) -> None:
    """INFO logs on stderr when ``verbose``, else warnings only."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    logging.getLogger("geoseek").setLevel(logging.INFO if verbose else logging.WARNING)
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code`` (2: bad input)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def comma_list(value: Optional[str]) -> Optional[list[str]]:
    """'a, b,c' -> ['a', 'b', 'c']; None or '' -> None."""
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def parse_weights(value: Optional[str]):
    if not value:
        return None
    from geoseek.schemas.search import Weights

    try:
        g, r, o = (float(v) for v in value.split(","))
        return Weights(**{"global": g, "region": r, "object": o})
    except ValueError:  # includes pydantic's ValidationError (e.g. a negative weight)
        fail(f"--weights '{value}' must be three non-negative numbers g,r,o")


def parse_filters(bbox: Optional[str], start: Optional[str], end: Optional[str], collection: Optional[list[str]]):
    from datetime import datetime

    from geoseek.search import Filters, parse_bbox

    try:
        return Filters(bbox=parse_bbox(bbox) if bbox else None, start=datetime.fromisoformat(start) if start else None,
                       end=datetime.fromisoformat(end) if end else None, collections=tuple(collection or ()))
    except ValueError as exc:
        fail(str(exc))


def print_results(resp, as_json: bool) -> None:
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


def open_engine(index: Path, device: str, store: Optional[str] = None):
    from geoseek.search import SearchEngine
    from geoseek.search.vector_store import StoreError

    try:
        return SearchEngine(index, device=device, store=store)
    except (FileNotFoundError, StoreError) as exc:
        fail(str(exc))


def published(path: Path) -> bool:
    from geoseek.index.layout import IndexDir

    return IndexDir(path).current() is not None


LevelsOpt = Annotated[Optional[str], typer.Option(help="Comma list of levels; 'global' alone is the baseline.")]


WeightsOpt = Annotated[Optional[str], typer.Option(help="Level weights g,r,o (default: the index manifest's).")]


BboxOpt = Annotated[Optional[str], typer.Option(help="WGS84 minx,miny,maxx,maxy that a view must intersect.")]


StoreOpt = Annotated[Optional[str], typer.Option(help="Vector store: faiss (default, the index's own indices), "
                     "milvus://host:port[?index=HNSW] or a Milvus Lite file path ending in .db.")]
DeviceOpt = Annotated[str, typer.Option(help="auto | cpu | cuda (cpu also keeps FAISS on the CPU)")]
IndexOpt = Annotated[Path, typer.Option("--index", help="Index directory.")]
