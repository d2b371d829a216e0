"""What the `geoseek` commands share: logging, the one way to fail, option parsers, opening an engine."""
from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
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


def first_line(exc: BaseException) -> str:
    """An exception's message, first line only (its type's name when it has none)."""
    text = str(exc)
    return text.splitlines()[0] if text.strip() else type(exc).__name__


@contextmanager
def user_errors(catalog: Optional[str] = None) -> Iterator[None]:
    """The one place the CLI turns errors a user can cause into ``error: <one line>`` and exit code 2.

    GeoSeek's own errors (GeoSeekError), file-system errors, invalid settings (pydantic) and catalog
    errors (SQLAlchemy, naming ``catalog``) are the user's to fix; ValueError/RuntimeError/ImportError
    from the libraries underneath (torch, FAISS, numpy) carry the reason too. Anything else is a bug
    and keeps its traceback.
    """
    from pydantic import ValidationError
    from sqlalchemy.exc import SQLAlchemyError

    from geoseek.schemas.errors import GeoSeekError

    try:
        yield
    except ValidationError as exc:
        err = exc.errors()[0]
        fail(f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}")
    except SQLAlchemyError as exc:
        fail(f"catalog {catalog or '(default)'}: {first_line(exc)}")
    except (GeoSeekError, OSError, ValueError, RuntimeError, ImportError) as exc:
        fail(first_line(exc))


def comma_list(value: Optional[str]) -> Optional[list[str]]:
    """'a, b,c' -> ['a', 'b', 'c']; None or '' -> None."""
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def parse_weights(value: Optional[str]):
    """``--weights g,r,o`` -> LevelWeights (None: the index's)."""
    from geoseek.schemas import LevelWeights

    if not value:
        return None
    with user_errors():
        return LevelWeights.parse(value)


def parse_fusion(value: Optional[str]):
    """A benchmark's ``--weights``: 'g,r,o' (every direction) or one g,r,o per direction -> FusionWeights (None: the index's)."""
    from geoseek.schemas import FusionWeights

    if not value:
        return None
    with user_errors():
        return FusionWeights.parse(value)


def parse_when(value: Optional[str], option: str):
    """An ISO 8601 date or datetime option (``--start``/``--end``) -> datetime; a bad one is an ``error:`` line."""
    from datetime import datetime

    if not value:
        return None
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError:
        fail(f"{option} '{value[:40]}' is not a date: expected ISO 8601, e.g. 2011-05-22 or 2011-05-22T17:00:00")


def parse_filters(bbox: Optional[str], start: Optional[str], end: Optional[str], collection: Optional[list[str]]):
    """``--bbox/--start/--end/--collection`` -> search Filters."""
    from geoseek.search import Filters, parse_bbox

    when = parse_when(start, "--start"), parse_when(end, "--end")
    with user_errors():
        return Filters(bbox=parse_bbox(bbox) if bbox else None, start=when[0], end=when[1],
                       collections=tuple(collection or ()))


def print_results(resp, as_json: bool) -> None:
    """A SearchResponse as JSON or as numbered lines."""
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
    """A SearchEngine on ``index`` (and ``store``); a missing index or unreachable store is an ``error:`` line."""
    from geoseek.search import SearchEngine

    with user_errors():
        return SearchEngine(index, device=device, store=store)


def published(path: Path) -> bool:
    """Whether ``path`` holds a published index version."""
    from geoseek.index.layout import IndexDir

    return IndexDir(path).current() is not None


LevelsOpt = Annotated[Optional[str], typer.Option(help="Comma list of levels; 'global' alone is the baseline.")]
WeightsOpt = Annotated[Optional[str], typer.Option(help="Level weights g,r,o (default: the index manifest's).")]
FusionOpt = Annotated[Optional[str], typer.Option(help="Level weights g,r,o for every direction, or "
                      "'text_to_image=g,r,o;image_to_text=g,r,o;image_to_image=g,r,o' (default: the index manifest's).")]
BboxOpt = Annotated[Optional[str], typer.Option(help="WGS84 minx,miny,maxx,maxy that a view must intersect.")]
StoreOpt = Annotated[Optional[str], typer.Option(help="Vector store: faiss (default, the index's own indices), "
                     "milvus://host:port[?index=HNSW] or a Milvus Lite file path ending in .db.")]
DeviceOpt = Annotated[str, typer.Option(help="auto | cpu | cuda (cpu also keeps FAISS on the CPU)")]
IndexOpt = Annotated[Path, typer.Option("--index", help="Index directory.")]
KOpt = Annotated[int, typer.Option("-k", help="Number of results.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object with a results list.")]
