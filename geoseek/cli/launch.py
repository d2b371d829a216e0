"""Start the API and the Streamlit UI as child processes on 127.0.0.1 and wait until they answer.

Used by `geoseek ui`, `geoseek demo`, the UI tests and the HTTP benchmarks: one way to start
the real servers everywhere.
"""
from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import httpx

from geoseek.extras import require_installed

log = logging.getLogger(__name__)

APP = Path(__file__).resolve().parents[1] / "ui" / "app.py"  # the Streamlit script (package data of geoseek.ui)


class LaunchError(RuntimeError):
    """A server that did not come up; the message says which and where."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, proc: subprocess.Popen, timeout_s: float, name: str) -> None:
    """Poll ``url`` until it answers 200; LaunchError if the process exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise LaunchError(f"{name} exited with code {proc.returncode} before answering at {url}")
        if time.monotonic() > deadline:
            raise LaunchError(f"{name} did not answer at {url} within {timeout_s:.0f} s")
        time.sleep(0.3)


def start_api(index: Path, port: int, device: str = "cpu", log_file: Path | None = None,
              catalog: str | None = None, store: str | None = None) -> subprocess.Popen:
    """`geoseek serve` on 127.0.0.1:port (not waited for); ``catalog``: a shared catalog's SQLAlchemy URL;
    ``store``: its --store (faiss by default)."""
    cmd = [sys.executable, "-m", "geoseek.cli", "serve", "--index", str(index), "--port", str(port), "--device", device]
    cmd += ["--catalog", catalog] if catalog else []
    cmd += ["--store", store] if store else []
    return _spawn(cmd, log_file, dict(os.environ))


def check_ui() -> None:
    """MissingExtraError unless the 'ui' extra (Streamlit, pydeck) is installed: the app runs in another process."""
    for module in ("streamlit", "pydeck"):
        require_installed(module, "ui", "geoseek ui and geoseek demo")


def start_ui(api: str, port: int, log_file: Path | None = None) -> subprocess.Popen:
    """The Streamlit app on 127.0.0.1:port, headless, talking to ``api`` (not waited for)."""
    check_ui()
    env = dict(os.environ, GEOSEEK_API_URL=api, STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    return _spawn([sys.executable, "-m", "streamlit", "run", str(APP), "--server.address", "127.0.0.1",
                   "--server.port", str(port), "--server.headless", "true", "--client.toolbarMode", "viewer",
                   "--", "--api", api], log_file, env)


def _spawn(cmd: list[str], log_file: Path | None, env: dict[str, str]) -> subprocess.Popen:
    """Start ``cmd`` with stdout and stderr appended to ``log_file`` (discarded without one)."""
    if log_file is None:
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, env=env)
    with open(log_file, "ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)


def stop(*procs: subprocess.Popen) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def _serving(proc: subprocess.Popen, base: str, health: str, startup_s: float, name: str) -> Iterator[str]:
    try:
        wait_until_up(base + health, proc, startup_s, name)
        yield base
    finally:
        stop(proc)


def served(index: Path, startup_s: float = 120, device: str = "cpu", catalog: str | None = None,
           store: str | None = None) -> AbstractContextManager[str]:
    """The API on a free port: a context yielding its base URL once /v1/health answers; stopped afterwards."""
    port = free_port()
    return _serving(start_api(index, port, device, catalog=catalog, store=store), f"http://127.0.0.1:{port}", "/v1/health",
                    startup_s, "geoseek serve")


def served_ui(api: str, startup_s: float = 120) -> AbstractContextManager[str]:
    """The Streamlit UI on a free port: a context yielding its URL once it answers; stopped afterwards."""
    port = free_port()
    return _serving(start_ui(api, port), f"http://127.0.0.1:{port}", "/_stcore/health", startup_s, "streamlit")
