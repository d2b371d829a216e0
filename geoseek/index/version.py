"""One published index version as plain data: view levels, captions, image records.

Rows of one image are contiguous in every level (the indexer writes an image's views together),
so each level keeps ``starts``/``ends`` per image and exact rescoring is a slice, not a lookup.
Vectors stay float16 (half the bytes); scores are computed in float32. A version with column files
(``geoseek.index.columns``, every version this GeoSeek publishes) keeps vectors and view metadata
memory-mapped; an older one is read from its Parquet shards into memory.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from geoseek.index.catalog import Catalog
from geoseek.index.columns import VersionColumns, read_columns
from geoseek.index.images import ImageTable, load_images
from geoseek.index.layout import IndexDir
from geoseek.index.shards import (
    read_boxes,
    read_strings,
    read_texts,
    read_vectors,
    read_views,
)
from geoseek.schemas import IndexManifest
from geoseek.schemas.errors import NoIndexError

log = logging.getLogger(__name__)

__all__ = ["ImageTable", "LevelData", "TextData", "VersionData", "apply_search_params", "read_faiss", "read_version"]


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

    @cached_property
    def with_views(self) -> np.ndarray:
        """Indices of the images that have a view at this level; computed once (a scan of every image per
        request costs milliseconds at a million images)."""
        return np.flatnonzero(self.ends > self.starts)


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
    """Memory-map where FAISS allows it; read otherwise. ``IO_FLAG_MMAP_IFC`` maps the codes of flat, SQ and
    HNSW files (plain ``IO_FLAG_MMAP`` copies them into the process on this FAISS; only IVF lists were mapped),
    so their pages are the page cache's, shared by replicas, not each process's own."""
    for flags in (faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY, faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY):
        try:
            return faiss.read_index(str(path), flags)
        except RuntimeError:
            continue
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


def _text_data(vdir: Path, manifest: IndexManifest, texts, vectors: np.ndarray, faiss_indices: bool) -> TextData:
    """The captions of a version: their table (text_id, image_id, text), float16 vectors and FAISS index."""
    index = read_faiss(vdir / manifest.indices["text"].file) if faiss_indices else None
    apply_search_params(index, manifest.indices["text"].params)
    return TextData(index, vectors, texts.column("text_id").to_pylist(), texts.column("text").to_pylist(),
                    texts.column("image_id").to_pylist())


def read_version(root: Path, catalog_url: str | None = None, *, faiss_indices: bool = True) -> VersionData:
    """Read the current version of the index at ``root``; ``faiss_indices=False`` leaves the FAISS files
    unread (another vector store searches this version). Raises NoIndexError before the first publish."""
    idx = IndexDir(root)
    version = idx.current()
    if version is None:
        raise NoIndexError(f"no published index version in {root}")
    manifest = idx.manifest(version)
    vdir = idx.version_path(version)
    cols = read_columns(vdir, manifest.levels)
    if cols is not None:
        return _from_columns(idx, catalog_url, version, manifest, cols, faiss_indices)
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
    text = _text_data(vdir, manifest, texts, read_vectors(texts, dtype=np.float16), faiss_indices)
    log.info("read index %s version %s: %d images", root, version, len(ids))
    return VersionData(version, manifest, images, levels, text)


def _from_columns(idx: IndexDir, catalog_url: str | None, version: str, manifest: IndexManifest, cols: VersionColumns,
                  faiss_indices: bool) -> VersionData:
    """A version with column files: vectors and view metadata stay memory-mapped (``geoseek.index.columns``)."""
    vdir = idx.version_path(version)
    images = load_images(Catalog(catalog_url or idx.default_catalog_url), cols.image_ids)
    levels = {}
    for level in manifest.levels:
        c = cols.levels[level]
        starts, ends = _ranges(np.asarray(c.image_idx), len(cols.image_ids))
        index = read_faiss(vdir / manifest.indices[level].file) if faiss_indices else None
        apply_search_params(index, manifest.indices[level].params)
        levels[level] = LevelData(index, c.vectors, c.image_idx, c.bbox, c.node_box, c.depth, c.bounds, starts, ends)
    texts = read_texts([vdir / "vectors" / f for f in manifest.text_shards], columns=["text_id", "image_id", "text"])
    text = _text_data(vdir, manifest, texts, cols.text_vectors, faiss_indices)
    log.info("read index %s version %s: %d images (memory-mapped columns)", idx.root, version, len(cols.image_ids))
    return VersionData(version, manifest, images, levels, text)
