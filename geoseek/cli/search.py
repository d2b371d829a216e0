"""`geoseek search text` and `geoseek search image`."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from geoseek.cli.common import (
    BboxOpt,
    DeviceOpt,
    IndexOpt,
    JsonOpt,
    KOpt,
    LevelsOpt,
    StoreOpt,
    WeightsOpt,
    fail,
    open_engine,
    parse_filters,
    parse_weights,
    print_results,
    setup_logging,
    user_errors,
)

search_app = typer.Typer(no_args_is_help=True, help="Search an index by text or by image.")


@search_app.command("text")
def search_text(
    query: Annotated[str, typer.Argument(help="What to look for, in words.")],
    index: IndexOpt,
    k: KOpt = 10,
    levels: LevelsOpt = None,
    weights: WeightsOpt = None,
    bbox: BboxOpt = None,
    start: Annotated[Optional[str], typer.Option(help="Earliest image datetime (ISO 8601).")] = None,
    end: Annotated[Optional[str], typer.Option(help="Latest image datetime (ISO 8601).")] = None,
    collection: Annotated[Optional[list[str]], typer.Option(help="Only these collections (repeatable).")] = None,
    refine: Annotated[bool, typer.Option("--refine", help="Zoom refine the top hits.")] = False,
    device: DeviceOpt = "auto",
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Text -> image search with hierarchical fusion."""
    setup_logging(False)
    engine = open_engine(index, device, store)
    with user_errors():
        resp = engine.search_text(query, k=k, levels=levels, weights=parse_weights(weights),
                                  filters=parse_filters(bbox, start, end, collection), refine=refine)
    print_results(resp, as_json)


@search_app.command("image")
def search_image(
    image: Annotated[str, typer.Argument(help="An image file, or the id of an indexed image.")],
    index: IndexOpt,
    target: Annotated[str, typer.Option(help="images (similar images) | texts (captions)")] = "images",
    k: KOpt = 10,
    levels: LevelsOpt = None,
    weights: WeightsOpt = None,
    bbox: BboxOpt = None,
    device: DeviceOpt = "auto",
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Image -> image or image -> text search, by file or by indexed image id."""
    setup_logging(False)
    from geoseek.schemas.errors import UnknownImageError

    engine = open_engine(index, device, store)
    path = Path(image)
    query: bytes | str = path.read_bytes() if path.is_file() else image
    with user_errors():
        try:
            resp = engine.search_image(query, target=target, k=k, levels=levels, weights=parse_weights(weights),
                                       filters=parse_filters(bbox, None, None, None))
        except UnknownImageError:
            fail(f"'{image}' is neither a file nor an indexed image id")
    print_results(resp, as_json)
