"""What a SRC is: a local ``Path``, or an http(s) URL kept as its string (``Path`` would collapse its '//')."""
from __future__ import annotations

from pathlib import Path

REMOTE_PREFIXES = ("http://", "https://")

Source = Path | str  # a local path, or an http(s) URL


def is_remote(src: object) -> bool:
    """Whether ``src`` is an http(s) URL (a string; a ``Path`` never is)."""
    return isinstance(src, str) and src.lower().startswith(REMOTE_PREFIXES)


def as_source(src: str | Path) -> Source:
    """An http(s) URL stays a string; anything else is a ``Path``."""
    return src if is_remote(src) else Path(src)


def image_files(path: str, extra: dict | None) -> list[Source]:
    """The files an indexed image is read from (its catalog ``path`` and ``extra``): a band stack's files
    (``band_files``), a mosaic's tiles (``tiles``), else the path itself; URLs stay URLs."""
    extra = extra or {}
    return [as_source(p) for p in extra.get("band_files") or extra.get("tiles") or [path]]
