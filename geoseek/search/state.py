"""One index version loaded for search: FAISS indices, view metadata and vectors, image records.

Rows of one image are contiguous in every level (the indexer writes an image's views together),
so each level keeps ``starts``/``ends`` per image and exact rescoring is a slice, not a lookup.
Vectors stay float16 in memory (half the bytes); scores are computed in float32.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import faiss
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from geoseek.indexer.catalog import Catalog, ImageRow
from geoseek.indexer.store import IndexDir
from geoseek.schemas import IndexManifest

if TYPE_CHECKING:
    from geoseek.search.gpu import GpuCopy
    from geoseek.search.vector_store import VectorStore

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
    gpu_index: "GpuCopy | None" = None  # a GPU copy of ``index`` when FAISS sees a GPU (see gpu.py)

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


def read_faiss(path: Path) -> faiss.Index:
    """Memory-map where FAISS allows it (this FAISS maps flat, SQ, HNSW and IVF files); read otherwise."""
    try:
        return faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
    except RuntimeError:
        return faiss.read_index(str(path))


def _vectors(table: pa.Table) -> np.ndarray:
    col = table.column("vector").combine_chunks()
    return col.values.to_numpy(zero_copy_only=False).reshape(-1, col.type.list_size)


def _boxes(table: pa.Table, name: str) -> np.ndarray:
    col = table.column(name).combine_chunks()
    return col.values.to_numpy(zero_copy_only=False).astype(np.int32).reshape(-1, 4)


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
        raise RuntimeError(f"catalog lacks {len(missing)} image(s) of this index version (e.g. {missing[0]})")
    ordered = [rows[i] for i in ids]
    dt = np.array([np.datetime64(r.datetime) if r.datetime else np.datetime64("NaT") for r in ordered], dtype="datetime64[s]")
    return ImageTable(ids, {i: k for k, i in enumerate(ids)}, [r.path for r in ordered],
                      np.array([r.width for r in ordered]), np.array([r.height for r in ordered]), dt,
                      np.array([r.collection for r in ordered], dtype=object), rows)


@dataclass
class IndexState:
    """Everything search needs from one index version; immutable once built, except that a level
    drops its GPU copy if FAISS fails on it (see gpu.py)."""

    version: str
    manifest: IndexManifest
    images: ImageTable
    levels: dict[str, LevelData]
    text: TextData
    store: "VectorStore | None" = None  # None: the FAISS indices above

    @property
    def vector_store(self) -> "VectorStore":
        """The store that answers nearest-neighbour queries for this version."""
        if self.store is not None:
            return self.store
        from geoseek.search.vector_store import FaissStore

        return FaissStore(self)

    @classmethod
    def load(cls, root: Path, catalog_url: str | None = None, store: str | None = None, gpu: bool = True) -> "IndexState":
        """Load the current version; ``store``: 'faiss' (default), a Milvus URI or a Milvus Lite .db path;
        ``gpu``: copy the FAISS level indices to the GPU when FAISS sees one."""
        from geoseek.search.gpu import gpu_copy
        from geoseek.search.vector_store import check_store_spec, is_milvus

        milvus = is_milvus(check_store_spec(store))
        idx = IndexDir(root)
        version = idx.current()
        if version is None:
            raise FileNotFoundError(f"no published index version in {root}")
        manifest = idx.manifest(version)
        vdir = idx.version_path(version)
        cols = ["image_id", "level", "bbox", "node_box", "depth", "west", "south", "east", "north", "vector"]
        views = pq.read_table([vdir / "vectors" / f for f in manifest.view_shards], columns=cols)
        level_col = np.asarray(views.column("level").to_numpy(zero_copy_only=False))
        image_col = np.asarray(views.column("image_id").to_numpy(zero_copy_only=False))
        glob = level_col == "global"
        ids = list(image_col[glob])
        catalog = Catalog(catalog_url or idx.default_catalog_url)
        images = load_images(catalog, ids)
        index_of = images.index_of
        levels = {}
        for level in manifest.levels:
            sel = np.flatnonzero(level_col == level)
            part = views.take(sel)
            img_idx = np.fromiter((index_of[i] for i in image_col[sel]), dtype=np.int32, count=len(sel))
            starts, ends = _ranges(img_idx, len(ids))
            bounds = np.stack([part.column(c).to_numpy(zero_copy_only=False).astype(np.float64) for c in ("west", "south", "east", "north")], axis=1) \
                if len(sel) else np.zeros((0, 4))
            faiss_index = None if milvus else read_faiss(vdir / manifest.indices[level].file)
            levels[level] = LevelData(faiss_index, _vectors(part).astype(np.float16),
                                      img_idx, _boxes(part, "bbox"), _boxes(part, "node_box"),
                                      part.column("depth").to_numpy().astype(np.int16), bounds, starts, ends)
            apply_search_params(faiss_index, manifest.indices[level].params)
            if gpu and faiss_index is not None:
                levels[level].gpu_index = gpu_copy(faiss_index, levels[level].vectors)
        texts = pq.read_table([vdir / "vectors" / f for f in manifest.text_shards], columns=["text_id", "image_id", "text", "vector"])
        text_index = None if milvus else read_faiss(vdir / manifest.indices["text"].file)
        text = TextData(text_index, _vectors(texts).astype(np.float16),
                        texts.column("text_id").to_pylist(), texts.column("text").to_pylist(), texts.column("image_id").to_pylist())
        apply_search_params(text_index, manifest.indices["text"].params)
        log.info("loaded index %s version %s: %d images", root, version, len(ids))
        state = cls(version, manifest, images, levels, text)
        if milvus:
            from geoseek.search.milvus_store import MilvusStore

            state.store = MilvusStore.open(store, state)
        return state


def apply_search_params(index: faiss.Index | None, params: dict) -> None:
    if index is None:
        return
    if "efSearch" in params and hasattr(index, "hnsw"):
        index.hnsw.efSearch = int(params["efSearch"])
    if "nprobe" in params:
        faiss.extract_index_ivf(index).nprobe = int(params["nprobe"])
