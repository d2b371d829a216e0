"""`geoseek demo`: indexes examples/, starts the API and the UI, prints the URL; a second run reuses the index."""
from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading

import httpx
import pytest

from geoseek.cli.launch import free_port

pytestmark = pytest.mark.slow  # starts servers or processes end to end (`pytest -m 'not slow'` skips it)


def run_demo(index, tmp_path, timeout_s: float = 240) -> tuple[str, str]:
    """Start the demo, wait for its URL line, check both servers, stop it with SIGTERM; returns (stdout, stderr)."""
    api_port = free_port()
    ui_port = free_port()
    while ui_port == api_port:  # the OS may hand out a just-released port again
        ui_port = free_port()
    err_file = tmp_path / f"demo-{api_port}.err"  # a file, not a pipe: progress output cannot fill it and block
    with open(err_file, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "geoseek.cli", "demo", "--index", str(index), "--api-port",
                                 str(api_port), "--ui-port", str(ui_port)], stdout=subprocess.PIPE, stderr=err, text=True)
    lines: queue.Queue[str] = queue.Queue()
    # The reader puts "" at EOF, so a demo that exits early fails the test at once instead of after timeout_s.
    threading.Thread(target=lambda: [*(lines.put(line) for line in proc.stdout), lines.put("")], daemon=True).start()
    try:
        first = lines.get(timeout=timeout_s)
        assert first, f"the demo exited (code {proc.wait(timeout=30)}) without its URL line: {err_file.read_text()[-2000:]}"
        assert first.strip() == f"GeoSeek demo: open http://127.0.0.1:{ui_port}", first
        stats = httpx.get(f"http://127.0.0.1:{api_port}/v1/stats", timeout=10).json()
        assert stats["images"] == 241 and stats["captions"] == 1200
        assert httpx.get(f"http://127.0.0.1:{ui_port}/_stcore/health", timeout=10).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    for port in (api_port, ui_port):  # both servers were stopped with the demo
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
            raise AssertionError(f"a demo server still answers on port {port}")
        except httpx.ConnectError:
            pass
    return first, err_file.read_text()


def test_demo_indexes_the_sample_once_and_serves_it(tmp_path):
    index = tmp_path / "demo-index"
    _, err = run_demo(index, tmp_path)
    assert "241 new image(s), 0 already indexed" in err
    _, err = run_demo(index, tmp_path)
    assert "0 new image(s), 241 already indexed" in err


def test_demo_refuses_one_port_for_both_servers(tmp_path):
    port = str(free_port())
    run = subprocess.run([sys.executable, "-m", "geoseek.cli", "demo", "--index", str(tmp_path / "ix"), "--api-port", port,
                          "--ui-port", port], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and f"the API and the UI need different ports; got {port} and {port}" in run.stderr
    assert not (tmp_path / "ix").exists()


def test_demo_refuses_a_busy_port(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        busy = s.getsockname()[1]
        run = subprocess.run([sys.executable, "-m", "geoseek.cli", "demo", "--index", str(tmp_path / "ix"),
                              "--api-port", str(busy)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and f"port {busy} on 127.0.0.1 is in use" in run.stderr
    assert not (tmp_path / "ix").exists()  # refused before anything was written
