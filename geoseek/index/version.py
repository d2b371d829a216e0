"""One published index version read into memory as plain data: view levels, captions, image records.

Rows of one image are contiguous in every level (the indexer writes an image's views together),
so each level keeps ``starts``/``ends`` per image and exact rescoring is a slice, not a lookup.
Vectors stay float16 in memory (half the bytes); scores are computed in float32.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from geoseek.index.catalog import Catalog, ImageRow
from geoseek.index.layout import IndexDir
from geoseek.index.shards import (
    read_boxes,
    read_strings,
    read_texts,
    read_vectors,
    read_views,
)
from geoseek.schemas import IndexManifest
from geoseek.schemas.errors import IndexFormatError, NoIndexError

log = logging.getLogger(__name__)


@dataclass
class LevelData:
    """One level's rows: FAISS row i <-> vectors[i], image_idx[i], bbox[i], bounds[i]."""

    index: faiss.Index | None  # None when another vector store (Milvus) searches this version
    vectors: np.ndarray  # (n, D) float16
    image_idx: np.ndarray  # (n,) int32 into ImageTable
    bbox: np.ndarray  # (n, 4) int32 source pixels the vector describes
    node_box: np.ndarray  # (n, 4) int32 quadtree node (region/global) or segment (object)
    depth: np.ndarray  # (n,) int16
    bounds: np.ndarray  # (n, 4) float64 WGS84 west, south, east, north (NaN without georef)
    starts: np.ndarray  # (n_images,) first row of each image (0 when it has none)
    ends: np.ndarray  # (n_images,) one past its last row
    gpu_index: Any = None  # a GPU copy of ``index`` that search attaches when FAISS sees a GPU (search/gpu.py)

    @property
    def size(self) -> int:
        return int(self.vectors.shape[0])


@dataclass
class ImageTable:
    ids: list[str]
    index_of: dict[str, int]
    paths: list[str]
    width: np.ndarray
    height: np.ndarray
    datetime: np.ndarray  # numpy datetime64[s], NaT where unknown
    collection: np.ndarray  # object array of str
    rows: dict[str, ImageRow]


@dataclass
class TextData:
    index: faiss.Index | None
    vectors: np.ndarray  # (n, D) float16
    text_ids: list[str]
    texts: list[str]
    image_ids: list[str]

    def rows_of(self, image_id: str) -> list[int]:
        """Caption rows of one image (index built on first use, then O(1))."""
        by_image = self.__dict__.get("_by_image")
        if by_image is None:
            by_image = {}
            for row, iid in enumerate(self.image_ids):
                by_image.setdefault(iid, []).append(row)
            self.__dict__["_by_image"] = by_image
        return by_image.get(image_id, [])


@dataclass
class VersionData:
    """Everything one index version holds, as arrays; immutable once read, except that a level
    drops its GPU copy if FAISS fails on it (see search/gpu.py)."""

    version: str
    manifest: IndexManifest
    images: ImageTable
    levels: dict[str, LevelData]
    text: TextData


def read_faiss(path: Path) -> faiss.Index:
    """Memory-map where FAISS allows it (this FAISS maps flat, SQ, HNSW and IVF files); read otherwise."""
    try:
        return faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
    except RuntimeError:
        return faiss.read_index(str(path))


def apply_search_params(index: faiss.Index | None, params: dict) -> None:
    """Set the search-time parameters the builder recorded in the manifest (HNSW efSearch, IVF nprobe)."""
    if index is None:
        return
    if "efSearch" in params and hasattr(index, "hnsw"):
        index.hnsw.efSearch = int(params["efSearch"])
    if "nprobe" in params:
        faiss.extract_index_ivf(index).nprobe = int(params["nprobe"])


def _ranges(image_idx: np.ndarray, n_images: int) -> tuple[np.ndarray, np.ndarray]:
    starts = np.zeros(n_images, np.int64)
    ends = np.zeros(n_images, np.int64)
    if len(image_idx):
        change = np.flatnonzero(np.diff(image_idx)) + 1
        first = np.concatenate([[0], change])
        last = np.concatenate([change, [len(image_idx)]])
        starts[image_idx[first]] = first
        ends[image_idx[first]] = last
    return starts, ends


def load_images(catalog: Catalog, ids: list[str]) -> ImageTable:
    """Catalog records of the version's images, in FAISS global-row order."""
    rows: dict[str, ImageRow] = {}
    with catalog.session() as s:
        for start in range(0, len(ids), 900):  # stay under SQLite's bound-parameter limit
            chunk = ids[start : start + 900]
            rows.update((r.image_id, r) for r in s.query(ImageRow).filter(ImageRow.image_id.in_(chunk)))
    missing = [i for i in ids if i not in rows]
    if missing:
        raise IndexFormatError(f"catalog lacks {len(missing)} image(s) of this index version (e.g. {missing[0]})")
    ordered = [rows[i] for i in ids]
    dt = np.array([np.datetime64(r.datetime) if r.datetime else np.datetime64("NaT") for r in ordered], dtype="datetime64[s]")
    return ImageTable(ids, {i: k for k, i in enumerate(ids)}, [r.path for r in ordered],
                      np.array([r.width for r in ordered]), np.array([r.height for r in ordered]), dt,
                      np.array([r.collection for r in ordered], dtype=object), rows)


def read_version(root: Path, catalog_url: str | None = None, *, faiss_indices: bool = True) -> VersionData:
    """Read the current version of the index at ``root``; ``faiss_indices=False`` leaves the FAISS files
    unread (another vector store searches this version). Raises NoIndexError before the first publish."""
    idx = IndexDir(root)
    version = idx.current()
    if version is None:
        raise NoIndexError(f"no published index version in {root}")
    manifest = idx.manifest(version)
    vdir = idx.version_path(version)
    views = read_views([vdir / "vectors" / f for f in manifest.view_shards])
    level_col = read_strings(views, "level")
    image_col = read_strings(views, "image_id")
    ids = list(image_col[level_col == "global"])
    images = load_images(Catalog(catalog_url or idx.default_catalog_url), ids)
    levels = {}
    for level in manifest.levels:
        sel = np.flatnonzero(level_col == level)
        part = views.take(sel)
        img_idx = np.fromiter((images.index_of[i] for i in image_col[sel]), dtype=np.int32, count=len(sel))
        starts, ends = _ranges(img_idx, len(ids))
        bounds = np.stack([part.column(c).to_numpy(zero_copy_only=False).astype(np.float64) for c in ("west", "south", "east", "north")], axis=1) \
            if len(sel) else np.zeros((0, 4))
        level_index = read_faiss(vdir / manifest.indices[level].file) if faiss_indices else None
        apply_search_params(level_index, manifest.indices[level].params)
        levels[level] = LevelData(level_index, read_vectors(part, dtype=np.float16), img_idx, read_boxes(part, "bbox"),
                                  read_boxes(part, "node_box"), part.column("depth").to_numpy().astype(np.int16), bounds, starts, ends)
    texts = read_texts([vdir / "vectors" / f for f in manifest.text_shards])
    text_index = read_faiss(vdir / manifest.indices["text"].file) if faiss_indices else None
    apply_search_params(text_index, manifest.indices["text"].params)
    text = TextData(text_index, read_vectors(texts, dtype=np.float16), texts.column("text_id").to_pylist(),
                    texts.column("text").to_pylist(), texts.column("image_id").to_pylist())
    log.info("read index %s version %s: %d images", root, version, len(ids))
    return VersionData(version, manifest, images, levels, text)
