"""What the API shows a client of the server: image paths, and client input echoed in messages.

The catalog keeps each image's path as it was given to ``geoseek index`` (absolute when the SRC
was), and the engine and CLI use it as is. The API maps it here, on the way out, by the
``paths`` setting (``GEOSEEK_PATHS``):

- ``relative`` (default): ``<source folder name>/<path below it>``. The source folder is the
  one recorded at indexing time (``extra.source_root``: the SRC folder, a dataset json's archive
  root or image folder, a single file's folder). Its name keeps sources apart (``geo_a/t.tif``
  and ``geo_b/t.tif``). Indexes built before roots were recorded fall back to the path below the
  longest common folder of the index's paths, prefixed by that folder's name. A path is never absolute.
- ``hidden``: every path is the empty string.
- ``absolute``: the catalog's paths unchanged (a trusted, local deployment).

Error messages go through ``PathMap.scrub`` (absolute folders of this index, then any other
absolute path, are shortened) and ``clip`` (echoed input is cut to ``MAX_ECHO`` characters).
"""
from __future__ import annotations

import logging
import os
import re
import threading
from typing import Literal

from geoseek.index.version import VersionData
from geoseek.schemas.api import ImageRecord
from geoseek.schemas.search import ImageHit, SearchResponse

log = logging.getLogger(__name__)

PathMode = Literal["relative", "hidden", "absolute"]
PATH_MODES: tuple[PathMode, ...] = ("relative", "hidden", "absolute")
MAX_ECHO = 100  # characters of client input an error message repeats
MAX_DETAIL = 300  # characters of any error message
ELLIPSIS = "…"
HIDDEN = "…"  # what replaces a source folder in messages when paths are hidden

# An absolute POSIX path's folders: "/a/b/" in "open /a/b/c.jpg" or "ViT-B-32:/a/b/c.pt" (not "//host/"
# of a URL, not "a/b/" of a relative path).
_FOLDERS = re.compile(r"(?<![\w.~/-])/(?:[^\s/'\"\[\]()<>,;]+/)+")


def clip(value: object, limit: int = MAX_ECHO) -> str:
    """``str(value)``, cut to ``limit`` characters plus an ellipsis when longer."""
    text = str(value)
    return text if len(text) <= limit else text[:limit] + ELLIPSIS


def _below(path: str, root: str) -> str | None:
    """``path`` relative to ``root`` ('' when equal), or None when it is not below it."""
    if os.path.isabs(path) != os.path.isabs(root):
        return None
    try:
        rel = os.path.relpath(path, root)
    except ValueError:
        return None
    if rel == os.curdir:
        return ""
    if rel == os.pardir or rel.startswith(os.pardir + os.sep):
        return None
    return rel


def _label(folder: str) -> str:
    """The name a folder is shown by ('' for '/', '.' and '..')."""
    name = os.path.basename(os.path.normpath(folder))
    return "" if name in ("", os.curdir, os.pardir) else name


def _join(label: str, rel: str) -> str:
    return "/".join(p for p in (label, rel) if p)


def strip_folders(text: str) -> str:
    """``text`` with the folders of every absolute path in it removed ('open /srv/a/x.jpg' -> 'open x.jpg')."""
    return _FOLDERS.sub("", text)


class PathMap:
    """How one index version's paths (and messages naming them) are shown to API clients."""

    def __init__(self, data: VersionData, mode: PathMode = "relative") -> None:
        if mode not in PATH_MODES:
            raise ValueError(f"paths must be one of {', '.join(PATH_MODES)}; got {mode!r}")
        self.data, self.mode = data, mode
        self._lock = threading.Lock()
        self._common: str | None = None  # legacy fallback folder, computed on first use
        self._folders: list[tuple[str, str]] | None = None  # (absolute folder, label), longest first

    def _root_of(self, image_id: str) -> str | None:
        row = self.data.images.rows.get(image_id)
        root = (row.extra or {}).get("source_root") if row is not None else None
        return root if isinstance(root, str) and root else None

    def common_folder(self) -> str:
        """The longest common folder of the index's absolute paths ('' when it has none)."""
        with self._lock:
            if self._common is None:
                dirs = [os.path.dirname(p) for p in self.data.images.paths if os.path.isabs(p)]
                try:
                    self._common = os.path.commonpath(dirs) if dirs else ""
                except ValueError:  # mixed drives (Windows)
                    self._common = ""
            return self._common

    def relative(self, path: str, root: str | None) -> str:
        """``path`` as the 'relative' mode shows it: below ``root`` (its name first), else the legacy rule."""
        if root:
            rel = _below(path, root)
            if rel is not None:
                return (_join(_label(root), rel) or os.path.basename(path)).lstrip("/")
        if not os.path.isabs(path):
            return path
        common = self.common_folder()
        rel = _below(path, common) if common else None
        shown = _join(_label(common), rel) if rel is not None else os.path.basename(path)
        return shown.lstrip("/") or os.path.basename(path)

    def path(self, image_id: str, path: str) -> str:
        """The path of image ``image_id`` as this mode shows it."""
        if self.mode == "absolute":
            return path
        if self.mode == "hidden":
            return ""
        return self.relative(path, self._root_of(image_id))

    def _known_folders(self) -> list[tuple[str, str]]:
        """This index's absolute source roots (and the legacy common folder) with their labels, longest first."""
        with self._lock:
            folders = self._folders
        if folders is None:
            found: dict[str, str] = {}
            roots = self.data.images.source_roots
            if roots is None:  # an image table built by hand (tests, benchmarks): from its rows
                roots = [(row.extra or {}).get("source_root") for row in self.data.images.rows.values()]
            for root in roots:
                if isinstance(root, str) and os.path.isabs(root):
                    found.setdefault(os.path.normpath(root), _label(root))
            common = self.common_folder()
            if common:
                found.setdefault(common, _label(common))
            folders = sorted(found.items(), key=lambda kv: -len(kv[0]))
            with self._lock:
                self._folders = folders
        return folders

    def scrub(self, text: str) -> str:
        """A server message with no absolute path in it (unchanged in 'absolute' mode)."""
        if self.mode == "absolute":
            return text
        for folder, label in self._known_folders():
            if folder != "/" and folder in text:
                shown = HIDDEN if self.mode == "hidden" else label
                text = re.sub(re.escape(folder) + r"(?=/|\b|$)", lambda _m, s=shown: s or HIDDEN, text)
        return strip_folders(text)


_CACHE: dict[tuple[int, str], tuple[VersionData, PathMap]] = {}
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 8


def path_map(data: VersionData, mode: PathMode) -> PathMap:
    """The PathMap of one loaded version (cached: its legacy folder is computed once per version)."""
    key = (id(data), mode)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None and hit[0] is data:
            return hit[1]
        pm = PathMap(data, mode)
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = (data, pm)
        return pm


def scrub_strings(value: object, pm: PathMap) -> object:
    """``value`` (a JSON-like structure) with every string passed through ``pm.scrub``."""
    if isinstance(value, str):
        return pm.scrub(value)
    if isinstance(value, dict):
        return {k: scrub_strings(v, pm) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_strings(v, pm) for v in value]
    return value


def public_response(resp: SearchResponse, pm: PathMap) -> SearchResponse:
    """A search response with each image hit's path as ``pm`` shows it (caption hits carry none)."""
    hits = [h.model_copy(update={"path": pm.path(h.image_id, h.path), "stac": _public_stac(h, pm)})
            if isinstance(h, ImageHit) else h for h in resp.results]
    return resp.model_copy(update={"results": hits})


def _public_stac(hit: ImageHit, pm: PathMap):
    """A hit's STAC link with a local Item file shown like paths (a URL as it is)."""
    link = hit.stac
    if link is None or not link.href or "://" in link.href:
        return link
    return link.model_copy(update={"href": pm.path(hit.image_id, link.href)})


def public_record(rec: ImageRecord, pm: PathMap) -> ImageRecord:
    """An image record with its path as ``pm`` shows it."""
    return rec.model_copy(update={"path": pm.path(rec.image_id, rec.path)})
