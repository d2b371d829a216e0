"""Real HTTP servers on 127.0.0.1 for tests, each logging the requests it gets: ``RangeServer`` answers HEAD,
GET and single-range GET (206) for the files of a folder, as object storage and CDNs do for Cloud-Optimized
GeoTIFFs, and counts the body bytes it sends; ``run_in_thread`` serves any of them until its block ends."""
from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TypeVar


class LoggingServer(ThreadingHTTPServer):
    """A threading server on a free port of 127.0.0.1 that keeps its handlers' request lines in ``requests``."""

    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.requests: list[str] = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), handler)


class RangeServer(LoggingServer):
    """Serves one folder with HEAD, GET and single-range GET (206); counts the body bytes it sends."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.sent = 0
        super().__init__(_Handler)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def reset(self) -> None:
        with self.lock:
            self.sent, self.requests = 0, []


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as GDAL's curl expects
    server: RangeServer

    def log_message(self, *args) -> None:  # quiet
        pass

    def _file(self) -> Path | None:
        p = (self.server.folder / self.path.split("?")[0].lstrip("/")).resolve()
        return p if p.is_file() and p.is_relative_to(self.server.folder.resolve()) else None

    def _head(self, status: int, length: int, p: Path, extra: dict[str, str] | None = None) -> None:
        st = p.stat()
        self.send_response(status)
        self.send_header("Content-Type", "image/tiff")
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", f'"{st.st_size:x}-{st.st_mtime_ns:x}"')
        self.send_header("Last-Modified", self.date_time_string(int(st.st_mtime)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()

    def _missing(self) -> None:
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_HEAD(self) -> None:
        p = self._file()
        with self.server.lock:
            self.server.requests.append(f"HEAD {self.path}")
        if p is None:
            return self._missing()
        self._head(200, p.stat().st_size, p)

    def do_GET(self) -> None:
        p = self._file()
        rng = self.headers.get("Range")
        with self.server.lock:
            self.server.requests.append(f"GET {self.path} {rng}")
        if p is None:
            return self._missing()
        size = p.stat().st_size
        start, end = 0, size - 1
        if rng:
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
            if m is None:  # several ranges in one request: not served (GDAL is not asked to send them)
                self.send_response(501)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if m[1]:
                start, end = int(m[1]), min(int(m[2]) if m[2] else size - 1, size - 1)
            else:
                start = max(0, size - int(m[2]))
        with open(p, "rb") as f:
            f.seek(start)
            body = f.read(end - start + 1)
        if rng:
            self._head(206, len(body), p, {"Content-Range": f"bytes {start}-{start + len(body) - 1}/{size}"})
        else:
            self._head(200, len(body), p)
        self.wfile.write(body)
        with self.server.lock:
            self.server.sent += len(body)


S = TypeVar("S", bound=LoggingServer)


@contextmanager
def run_in_thread(srv: S) -> Iterator[S]:
    """``srv`` serving in a thread until the block ends, then shut down and closed."""
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


def serving(folder: Path) -> AbstractContextManager[RangeServer]:
    """A RangeServer for ``folder``, running in a thread until the block ends."""
    return run_in_thread(RangeServer(folder))
