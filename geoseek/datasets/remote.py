"""Remote sources: (Cloud-Optimized) GeoTIFFs at http(s) URLs, read by window through GDAL's /vsicurl/.

A remote source is its URL string end to end (SRC arguments, ``SourceItem.paths``, ``IndexJob.sources``,
the catalog's ``path``); a local one stays a ``Path``. ``as_source`` makes the choice, before ``Path``
would collapse the ``//`` of ``https://``.

Only the bytes GDAL needs are fetched: the header and IFDs, the overview blocks a thumbnail reads and the
blocks under each view's window (range requests; a file without internal overviews or tiles costs more).
Every HTTP wait is bounded (``HTTP_TIMEOUT_S``, ``HTTP_MAX_RETRY`` retries ``HTTP_RETRY_DELAY_S`` apart).

**The id of a remote file** is sha256 over its URL, its size (``Content-Length``) and its validator
(``ETag``, else ``Last-Modified``) from one HEAD request, 20 hex chars like a local file's id. Hashing the
bytes would mean downloading the whole file, which is what range reads avoid. Consequences: the same
bytes at two URLs (or a URL and a local copy; the query string counts, so a re-signed URL is another
URL) are two images; a file changed in place gets a new id when its ETag, Last-Modified or size changes
(a server that sends neither validator gives an id of URL and size only, so a same-size rewrite is not
noticed); and an unreachable URL (refused, timed out, not found) has no id, so it is skipped with that
reason while the run goes on.
"""
from __future__ import annotations

import hashlib
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from geoseek.schemas.sources import REMOTE_PREFIXES, Source, as_source, is_remote

__all__ = ["REMOTE_PREFIXES", "RemoteError", "RemoteInfo", "Source", "as_source", "gdal_env", "is_remote", "probe",
           "read_env", "remote_id", "url_folder", "url_name", "url_suffix"]

HTTP_TIMEOUT_S = 15  # seconds per HTTP request (connect and read), HEAD and GDAL's range reads alike
HTTP_MAX_RETRY = 2  # GDAL retries of a failed range request (429, 502, 503, 504 and the like)
HTTP_RETRY_DELAY_S = 1  # seconds before GDAL's first retry (it backs off from there)


def url_suffix(url: str) -> str:
    """The lower-case suffix of the URL's path ('.tif'), ignoring its query and fragment."""
    return Path(urlsplit(url).path).suffix.lower()


def url_name(url: str) -> str:
    """The last segment of the URL's path ('scene.tif')."""
    return Path(urlsplit(url).path).name


def url_folder(url: str) -> str:
    """The URL's parent folder name (a local file's collection is its folder's name), else its host."""
    parts = [p for p in urlsplit(url).path.split("/") if p]
    return parts[-2] if len(parts) > 1 else (urlsplit(url).hostname or "remote")


class RemoteError(OSError):
    """A remote source cannot be reached or read; the message is the one-line reason."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.strerror = message


@dataclass(frozen=True)
class RemoteInfo:
    size: int | None
    etag: str | None
    last_modified: str | None


def probe(url: str, timeout_s: float = HTTP_TIMEOUT_S) -> RemoteInfo:
    """One HEAD request (redirects followed): size and validators; RemoteError with the reason otherwise."""
    import httpx

    try:
        r = httpx.head(url, timeout=timeout_s, follow_redirects=True)
    except httpx.TimeoutException:
        raise RemoteError(f"no answer within {timeout_s:g} s") from None
    except httpx.HTTPError as exc:
        raise RemoteError(f"cannot connect ({type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''})") from None
    if r.status_code >= 400:
        raise RemoteError(f"HTTP {r.status_code} {r.reason_phrase}".strip())
    length = r.headers.get("content-length")
    size = int(length) if length and length.isdigit() else None
    if size == 0:
        raise RemoteError("empty file (0 bytes)")
    return RemoteInfo(size, r.headers.get("etag"), r.headers.get("last-modified"))


def remote_id(url: str, info: RemoteInfo | None = None) -> str:
    """The file id of a URL: sha256 of URL, size and ETag (else Last-Modified), 20 hex chars (see module doc)."""
    info = info or probe(url)
    key = "\n".join(("geoseek-remote-v1", url, str(info.size), info.etag or "", "" if info.etag else info.last_modified or ""))
    return hashlib.sha256(key.encode()).hexdigest()[:20]


def gdal_env() -> AbstractContextManager:
    """GDAL settings for reading over HTTP: bounded waits, no directory listing or sidecar probing (each
    would be a request), only TIFF URLs, and a block cache so overviews and windows are fetched once."""
    import rasterio

    return rasterio.Env(
        GDAL_HTTP_TIMEOUT=str(HTTP_TIMEOUT_S),
        GDAL_HTTP_CONNECTTIMEOUT=str(HTTP_TIMEOUT_S),
        GDAL_HTTP_MAX_RETRY=str(HTTP_MAX_RETRY),
        GDAL_HTTP_RETRY_DELAY=str(HTTP_RETRY_DELAY_S),
        GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR",
        CPL_VSIL_CURL_ALLOWED_EXTENSIONS=".tif,.tiff",
        VSI_CACHE="TRUE",
    )


def read_env(src: Source) -> AbstractContextManager:
    """The GDAL settings a source is opened and read under: ``gdal_env`` for a URL, GDAL's defaults for a file.
    rasterio's settings are thread-local, so every read enters them in its own thread."""
    return gdal_env() if is_remote(src) else nullcontext()
