"""The `geoseek` command line (typer): one module per command group; heavy imports happen inside commands."""
from __future__ import annotations

import typer

from geoseek.cli import bench, index, search, serve, train, ui

app = typer.Typer(add_completion=False, no_args_is_help=True, help="GeoSeek: cross-modal search for remote-sensing archives.")
app.command("index")(index.index)
app.command("info")(index.info)
app.add_typer(search.search_app, name="search")
app.add_typer(bench.bench_app, name="bench")
app.add_typer(serve.store_app, name="store")
app.command("serve")(serve.serve)
serve.store_app.command("sync")(serve.store_sync)
app.command("train")(train.train)
app.command("average-checkpoints")(train.average_checkpoints)
app.command("ui")(ui.ui)
app.command("demo")(ui.demo)

__all__ = ["app"]
