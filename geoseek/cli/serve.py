"""`geoseek serve` and `geoseek store sync`."""
from __future__ import annotations

import time
from typing import Annotated, Optional

import typer

from geoseek.cli.common import (
    DeviceOpt,
    IndexOpt,
    StoreOpt,
    fail,
    published,
    setup_logging,
    user_errors,
)

store_app = typer.Typer(no_args_is_help=True, help="Vector stores other than the index's own FAISS files.")


def serve(
    index: IndexOpt,
    host: Annotated[str, typer.Option(help="Bind address (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    device: DeviceOpt = "auto",
    catalog: Annotated[Optional[str], typer.Option(help="SQLAlchemy URL of the catalog.")] = None,
    store: StoreOpt = None,
    api_key: Annotated[Optional[str], typer.Option(envvar="GEOSEEK_API_KEY", help="Require this X-API-Key header.")] = None,
) -> None:
    """Serve the search API (FastAPI on uvicorn); OpenAPI docs at /docs."""
    setup_logging(True)
    import uvicorn

    from geoseek.search.api import ApiSettings, create_app

    if not published(index):
        fail(f"no GeoSeek index at {index}")
    from geoseek.search.stores import check_store_spec, is_milvus

    with user_errors():
        if is_milvus(check_store_spec(store)):  # the store opens in the server: a missing extra fails here instead
            from geoseek.extras import require

            require("pymilvus", "milvus", "Milvus stores")
    settings = ApiSettings(index=index, device=device, catalog=catalog, store=store, api_key=api_key)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


def store_sync(
    index: IndexOpt,
    store: Annotated[str, typer.Option(help="milvus://host:port[?index=...] or a Milvus Lite file path ending in .db.")],
    catalog: Annotated[Optional[str], typer.Option(help="SQLAlchemy URL of the catalog.")] = None,
) -> None:
    """Create and fill the current version's Milvus collections now (after `geoseek index`), so that
    API replicas find them complete instead of filling them on start-up."""
    setup_logging(False)
    from geoseek.search.state import IndexState
    from geoseek.search.stores import check_store_spec, is_milvus

    if not published(index):
        fail(f"no GeoSeek index at {index}")
    with user_errors(catalog):
        if not is_milvus(check_store_spec(store)):
            fail("store sync fills a Milvus store; the FAISS indices are in the index directory already")
        t = time.perf_counter()
        state = IndexState.load(index, catalog, store, gpu=False)
    milvus = state.store
    for name, added in milvus.added.items():
        typer.echo(f"{name}: {milvus.count(name)} rows ({added} added)")
    typer.echo(f"version {state.version} ready in {store} ({time.perf_counter() - t:.1f}s)")
    milvus.close()
