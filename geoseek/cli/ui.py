"""`geoseek ui` and `geoseek demo` (registered on the main typer app by geoseek.cli)."""
from __future__ import annotations

import signal
import socket
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from geoseek.cli.common import fail, setup_logging, user_errors


def default_examples() -> Path:
    """The demo sample: ./examples when it is there, else the examples/ of the source checkout this package runs
    from (an installed wheel has none: then --examples DIR is needed)."""
    for root in (Path.cwd() / "examples", Path(__file__).resolve().parents[2] / "examples"):
        if (root / "rsicd_aid" / "dataset.json").is_file():
            return root
    return Path.cwd() / "examples"


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _check_ports(*ports: int) -> None:
    """Exit with a clear message before anything starts when two servers would share a port or one is taken."""
    if len(set(ports)) < len(ports):
        fail(f"the API and the UI need different ports; got {' and '.join(map(str, ports))}")
    for port in ports:
        if not _port_free(port):
            fail(f"port {port} on 127.0.0.1 is in use; choose another with --api-port / --ui-port")


def _stop_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt, so `kill` (or a timeout) runs the cleanup that stops the servers."""
    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def _serve_until_interrupted(procs: list, lines: list[str]) -> None:
    """Print ``lines``, then wait until Ctrl-C / SIGTERM or a server exits."""
    for line in lines:
        typer.echo(line)
    while all(p.poll() is None for p in procs):
        time.sleep(0.5)
    typer.echo("a server stopped; shutting down the others", err=True)


def ui(
    api: Annotated[str, typer.Option(help="Base URL of a running `geoseek serve`.")] = "http://127.0.0.1:8000",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port of the UI on 127.0.0.1.")] = 8501,
) -> None:
    """The Streamlit front end for a running API (it talks to the API over HTTP only)."""
    from geoseek.cli.launch import LaunchError, check_ui, start_ui, stop, wait_until_up

    with user_errors():  # a missing 'ui' extra: one error: line
        check_ui()
    _check_ports(port)
    _stop_on_sigterm()
    procs = []
    try:
        procs.append(start_ui(api, port))
        wait_until_up(f"http://127.0.0.1:{port}/_stcore/health", procs[0], 120, "streamlit")
        _serve_until_interrupted(procs, [f"GeoSeek UI: http://127.0.0.1:{port}  (API {api}; Ctrl-C stops)"])
    except LaunchError as exc:
        stop(*procs)
        fail(str(exc))
    except KeyboardInterrupt:
        typer.echo("stopping", err=True)
    finally:
        stop(*procs)


def demo(
    index: Annotated[Path, typer.Option("--index", help="Where the demo index lives (reused by later runs).")] = Path("geoseek-demo-index"),
    api_port: Annotated[int, typer.Option("--api-port", min=1, max=65535)] = 8000,
    ui_port: Annotated[int, typer.Option("--ui-port", min=1, max=65535)] = 8501,
    examples: Annotated[Optional[Path], typer.Option(help="The sample to index (default: the repository's examples/).")] = None,
) -> None:
    """Index the real sample in examples/ (once), start the API and the UI, and print the URL."""
    from geoseek.cli.launch import (
        LaunchError,
        check_ui,
        start_api,
        start_ui,
        stop,
        wait_until_up,
    )
    from geoseek.indexer import run_index

    setup_logging(False)
    with user_errors():  # a missing 'ui' extra fails before the sample is indexed
        check_ui()
    root = examples or default_examples()
    srcs = [root / "rsicd_aid" / "dataset.json", root / "joplin"]
    missing = [s for s in srcs if not s.exists()]
    if missing:
        fail(f"the demo sample is missing ({missing[0]}); run from a clone of the GeoSeek repository or pass --examples DIR")
    _check_ports(api_port, ui_port)
    _stop_on_sigterm()
    typer.echo(f"indexing the sample in {root} into {index} …", err=True)
    procs: list = []
    try:
        report = run_index(srcs, index, progress=True)
        typer.echo(f"{report.new_images} new image(s), {report.already_indexed} already indexed; "
                   f"version {report.version}", err=True)
        logs = index / "demo-logs"
        logs.mkdir(parents=True, exist_ok=True)
        api = f"http://127.0.0.1:{api_port}"
        procs.append(start_api(index, api_port, "auto", logs / "api.log"))
        wait_until_up(f"{api}/v1/health", procs[0], 180, "geoseek serve")
        procs.append(start_ui(api, ui_port, logs / "ui.log"))
        wait_until_up(f"http://127.0.0.1:{ui_port}/_stcore/health", procs[1], 120, "streamlit")
        from geoseek.ui.demo_queries import demo_query_texts

        _serve_until_interrupted(procs, [f"GeoSeek demo: open http://127.0.0.1:{ui_port}",
                                         f"API: {api}/docs  (Ctrl-C stops both)",
                                         "Try: " + " · ".join(f'"{q}"' for q in demo_query_texts())])
    except LaunchError as exc:
        stop(*procs)
        fail(f"{exc}; see {index / 'demo-logs'}")
    except KeyboardInterrupt:
        typer.echo("stopping", err=True)
    finally:
        stop(*procs)
