"""`geoseek search text` and `geoseek search image`."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from geoseek.cli.common import BboxOpt, LevelsOpt, StoreOpt, WeightsOpt, comma_list, fail, open_engine, parse_filters, parse_weights, print_results, setup_logging


search_app = typer.Typer(no_args_is_help=True, help="Search an index by text or by image.")


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
    setup_logging(False)
    from geoseek.search import FilterError, QueryError
    from geoseek.search.vector_store import StoreError

    engine = open_engine(index, device, store)
    try:
        resp = engine.search_text(query, k=k, levels=comma_list(levels), weights=parse_weights(weights),
                                  filters=parse_filters(bbox, start, end, collection), refine=refine)
    except (QueryError, StoreError, FilterError) as exc:
        fail(str(exc))
    print_results(resp, as_json)


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
    setup_logging(False)
    from geoseek.search import FilterError, QueryError, QueryImageError, UnknownImageError
    from geoseek.search.vector_store import StoreError

    engine = open_engine(index, device, store)
    path = Path(image)
    query: bytes | str = path.read_bytes() if path.is_file() else image
    try:
        resp = engine.search_image(query, target=target, k=k, levels=comma_list(levels), weights=parse_weights(weights),
                                   filters=parse_filters(bbox, None, None, None))
    except UnknownImageError:
        fail(f"'{image}' is neither a file nor an indexed image id")
    except (QueryError, QueryImageError, StoreError, FilterError) as exc:
        fail(str(exc))
    print_results(resp, as_json)
