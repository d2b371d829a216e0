"""`geoseek search text` and `geoseek search image`: in this process (``--index``), or through a
running `geoseek serve` (``--api URL`` or the GEOSEEK_API setting) without loading a model here."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from geoseek.cli.common import (
    BboxOpt,
    DeviceOpt,
    JsonOpt,
    KOpt,
    LevelsOpt,
    StoreOpt,
    WeightsOpt,
    comma_list,
    fail,
    open_engine,
    parse_filters,
    parse_weights,
    print_results,
    setup_logging,
    user_errors,
)

search_app = typer.Typer(no_args_is_help=True, help="Search an index by text or by image.")

MaybeIndexOpt = Annotated[Optional[Path], typer.Option("--index", help="Index directory (search in this process).")]
ApiOpt = Annotated[Optional[str], typer.Option(
    "--api", help="Base URL of a running `geoseek serve`, e.g. http://127.0.0.1:8000 (default: the GEOSEEK_API "
                  "setting when --index is not given). Same output, no model loaded here.")]
ApiKeyOpt = Annotated[Optional[str], typer.Option("--api-key", envvar="GEOSEEK_API_KEY",
                                                  help="X-API-Key for --api (or GEOSEEK_API_KEY).")]
FormatOpt = Annotated[Optional[str], typer.Option(
    "--format", help="text (default) | json (as --json) | geojson: a FeatureCollection of the georeferenced hits' "
                     "footprints and best region and object boxes in WGS84, for a GIS.")]
FORMATS = ("text", "json", "geojson")


def _format(fmt: Optional[str], as_json: bool) -> str:
    if fmt is not None and fmt not in FORMATS:
        fail(f"--format must be one of {', '.join(FORMATS)}; got '{fmt[:40]}'")
    return fmt or ("json" if as_json else "text")


def _print(resp, fmt: str, images=None) -> None:
    """Print a SearchResponse as text or JSON, or (``geojson``) its FeatureCollection over ``images``."""
    if fmt != "geojson":
        print_results(resp, fmt == "json")
        return
    import json

    from geoseek.search.geojson import feature_collection

    with user_errors():
        fc = resp if isinstance(resp, dict) else feature_collection(resp, images)
    typer.echo(json.dumps(fc))
    if fc["not_georeferenced"]:
        typer.echo(f"{fc['not_georeferenced']} of {fc['hits']} hit(s) have no georeference and are not in the GeoJSON",
                   err=True)


def _where(index: Optional[Path], api: Optional[str], store: Optional[str]) -> Optional[str]:
    """The API base URL to use, or None to search ``index`` here. ``--api`` wins; GEOSEEK_API is used
    only when no ``--index`` is given, so a local ``--index`` is never sent elsewhere."""
    if index is not None and api:
        fail("give --index (search in this process) or --api (a running geoseek serve), not both")
    url = api or (None if index is not None else os.environ.get("GEOSEEK_API") or None)
    if url is None and index is None:
        fail("give --index DIR, or --api URL of a running `geoseek serve` (or set GEOSEEK_API)")
    if url is not None and store:
        fail("--store applies to searching in this process; the server behind --api uses its own store")
    return url


def _client(url: str, api_key: Optional[str]):
    from geoseek.client import ApiClient

    return ApiClient(url, api_key=api_key)


def _remote(call, *args, **kwargs):
    """One API call parsed into a SearchResponse (a GeoJSON dict as it is, with ``geojson=True``);
    an API error is an ``error:`` line (exit 2)."""
    from geoseek.client import ApiError
    from geoseek.schemas.search import SearchResponse

    try:
        body = call(*args, **kwargs)
    except ApiError as exc:
        fail(str(exc))
    return body if kwargs.get("geojson") else SearchResponse.model_validate(body)


def _check_gallery(resp, target: str) -> None:
    """An empty caption gallery is a message and exit 1, not silence."""
    if target == "texts" and not resp.results:
        fail("this index holds no captions, so there is nothing to return for --target texts "
             "(index captions with a dataset json or name.txt sidecars)", code=1)


@search_app.command("text")
def search_text(
    query: Annotated[str, typer.Argument(help="What to look for, in words.")],
    index: MaybeIndexOpt = None,
    k: KOpt = 10,
    levels: LevelsOpt = None,
    weights: WeightsOpt = None,
    bbox: BboxOpt = None,
    start: Annotated[Optional[str], typer.Option(help="Earliest image datetime (ISO 8601, e.g. 2011-05-22).")] = None,
    end: Annotated[Optional[str], typer.Option(help="Latest image datetime (ISO 8601).")] = None,
    collection: Annotated[Optional[list[str]], typer.Option(help="Only these collections (repeatable).")] = None,
    refine: Annotated[bool, typer.Option("--refine", help="Zoom refine the top hits.")] = False,
    device: DeviceOpt = "auto",
    store: StoreOpt = None,
    api: ApiOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
    fmt: FormatOpt = None,
) -> None:
    """Text -> image search with hierarchical fusion."""
    setup_logging(False)
    url, fmt = _where(index, api, store), _format(fmt, as_json)
    w, filters = parse_weights(weights), parse_filters(bbox, start, end, collection)
    if url is not None:
        resp = _remote(_client(url, api_key).search_text, query, k=k, levels=comma_list(levels),
                       weights=w.as_dict() if w else None, bbox=filters.bbox, start=filters.start, end=filters.end,
                       refine=refine, collections=list(filters.collections), geojson=fmt == "geojson")
        _print(resp, fmt)
        return
    engine = open_engine(index, device, store)
    with user_errors():
        resp = engine.search_text(query, k=k, levels=levels, weights=w, filters=filters, refine=refine)
    _print(resp, fmt, engine.state().images)


@search_app.command("image")
def search_image(
    image: Annotated[str, typer.Argument(help="An image file, or the id of an indexed image.")],
    index: MaybeIndexOpt = None,
    target: Annotated[str, typer.Option(help="images (similar images) | texts (captions)")] = "images",
    k: KOpt = 10,
    levels: LevelsOpt = None,
    weights: WeightsOpt = None,
    bbox: BboxOpt = None,
    device: DeviceOpt = "auto",
    store: StoreOpt = None,
    api: ApiOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
    fmt: FormatOpt = None,
) -> None:
    """Image -> image or image -> text search, by file or by indexed image id."""
    setup_logging(False)
    from geoseek.schemas.errors import UnknownImageError

    url, fmt = _where(index, api, store), _format(fmt, as_json)
    if fmt == "geojson" and target == "texts":
        fail("--format geojson is for image results; captions (--target texts) have no footprint")
    if target not in ("images", "texts"):
        fail(f"--target must be 'images' or 'texts'; got '{target[:40]}'")
    path = Path(image)
    data = path.read_bytes() if path.is_file() else None
    if data is not None and not data:
        fail(f"{image} is an empty file (0 bytes), not an image")
    w, filters = parse_weights(weights), parse_filters(bbox, None, None, None)
    images = None
    if url is not None:
        resp = _remote(_client(url, api_key).search_image, data or b"", path.name, target, k=k, levels=comma_list(levels),
                       weights=w.as_dict() if w else None, bbox=filters.bbox,
                       image_id=None if data is not None else image, geojson=fmt == "geojson")
    else:
        engine = open_engine(index, device, store)
        images = engine.state().images
        with user_errors():
            try:
                resp = engine.search_image(data if data is not None else image, target=target, k=k, levels=levels,
                                           weights=w, filters=filters)
            except UnknownImageError:
                fail(f"'{image}' is neither a file nor an indexed image id")
    if fmt != "geojson":
        _check_gallery(resp, target)
    _print(resp, fmt, images)
