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
