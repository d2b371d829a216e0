"""`geoseek serve` really started: uvicorn on 127.0.0.1, queried over HTTP, stopped."""
from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
import pytest

pytestmark = pytest.mark.slow  # starts servers or processes end to end (`pytest -m 'not slow'` skips it)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_binds_loopback_and_answers(small_index):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "geoseek.cli", "serve", "--index", str(small_index.root), "--port",
                             str(port), "--device", "cpu"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=2)
                if r.status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            raise AssertionError("server did not come up")
        assert r.json()["version"] == "v0001"
        hits = httpx.post(f"http://127.0.0.1:{port}/v1/search/text", json={"query": "houses", "k": 3}, timeout=30).json()
        assert len(hits["results"]) == 3
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "127.0.0.1" in out


def test_serve_refuses_a_missing_index(tmp_path):
    p = subprocess.run([sys.executable, "-m", "geoseek.cli", "serve", "--index", str(tmp_path / "none")], capture_output=True,
                       text=True)
    assert p.returncode == 2 and "no GeoSeek index" in p.stderr
