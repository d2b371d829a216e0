"""Derived column files of one index version: every level's vectors (float16) and per-view metadata as
``.npy`` arrays in ``versions/<v>/columns/``, which search memory-maps instead of holding.

A replica then keeps in its own memory only what it touches: the bounds a filter scans, and the
candidates' rows it rescores (read with pread from a large vector file, ``read_rows``, so those pages stay
in the shared page cache); the operating system shares and evicts the rest. At 768 B of float16 vector per view, holding them
would bound one node at about 10M views per 8 GB.

The Parquet shards stay the source of truth: ``write_columns`` rebuilds these files from them at every
publish, like the FAISS files, in two streamed passes (counts, then fill), one shard in memory at a
time. A version without them (written by an older GeoSeek) is read from the shards as before.
"""
from __future__ import annotations

import logging
import mmap
import os
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from geoseek.index.shards import read_boxes, read_strings, read_vectors

log = logging.getLogger(__name__)

COLUMNS_DIR = "columns"
# Vector files larger than this are read row by row with pread (read_rows); a smaller one may as well be read
# through its map, which bounds what it adds to a replica's RSS by its size (and costs no syscall per run of rows).
PREAD_MIN_BYTES = 256 << 20
ID_DTYPE = "S40"  # image ids (20 hex chars today; the catalog allows 40)
VIEW_FIELDS = {"vectors": np.float16, "image_idx": np.int32, "bbox": np.int32, "node_box": np.int32, "depth": np.int16,
               "bounds": np.float64}


@dataclass
class LevelColumns:
    """One level's arrays, memory-mapped read-only: vectors (n, D) float16, image_idx (n,) int32, bbox and
    node_box (n, 4) int32, depth (n,) int16, bounds (n, 4) float64 WGS84 (NaN without georeference)."""

    vectors: np.ndarray
    image_idx: np.ndarray
    bbox: np.ndarray
    node_box: np.ndarray
    depth: np.ndarray
    bounds: np.ndarray


@dataclass
class VersionColumns:
    image_ids: list[str]  # in FAISS global-row order (the order of the global views)
    levels: dict[str, LevelColumns]
    text_vectors: np.ndarray  # (n_captions, D) float16


def _path(folder: Path, name: str) -> Path:
    return folder / COLUMNS_DIR / f"{name}.npy"


def _count(view_files: list[Path], levels: list[str]) -> tuple[dict[str, int], list[str]]:
    """Pass 1: views per level, and the image ids in global-row order (reads only two string columns)."""
    counts = dict.fromkeys(levels, 0)
    ids: list[str] = []
    for f in view_files:
        t = pq.read_table(f, columns=["image_id", "level"])
        level = read_strings(t, "level")
        for lv in levels:
            counts[lv] += int((level == lv).sum())
        ids += [str(i) for i in read_strings(t, "image_id")[level == "global"]]
    return counts, ids


class _NpyWriter:
    """An ``.npy`` file of a known shape written front to back with plain writes: unlike filling a memory map,
    the pages written are the page cache's, not the writer's resident memory."""

    def __init__(self, path: Path, dtype, shape: tuple[int, ...]) -> None:
        self.dtype, self.shape = np.dtype(dtype), shape
        self.f = open(path, "wb")
        np.lib.format.write_array_header_1_0(self.f, {"descr": np.lib.format.dtype_to_descr(self.dtype),
                                                      "fortran_order": False, "shape": shape})
        self.start, self.rows = self.f.tell(), 0

    def write(self, rows: np.ndarray) -> None:
        self.f.write(np.ascontiguousarray(rows, dtype=self.dtype).tobytes())
        self.rows += len(rows)

    def close(self) -> None:
        expected = self.start + int(np.prod(self.shape)) * self.dtype.itemsize
        size = self.f.tell()
        self.f.close()
        if self.rows != self.shape[0] or size != expected:
            raise RuntimeError(f"column file {self.f.name}: wrote {self.rows} of {self.shape[0]} rows")


def _shape(name: str, n: int, dim: int) -> tuple[int, ...]:
    return (n, dim) if name == "vectors" else (n, 4) if name in ("bbox", "node_box", "bounds") else (n,)


def write_columns(version_dir: Path, view_files: list[Path], text_files: list[Path], levels: list[str], dim: int) -> None:
    """Write ``columns/`` of a (staging) version directory from its shards, streamed shard by shard."""
    (version_dir / COLUMNS_DIR).mkdir(exist_ok=True)
    counts, ids = _count(view_files, levels)
    index_of = {iid: k for k, iid in enumerate(ids)}
    np.save(_path(version_dir, "images.ids"), np.array(ids, dtype=ID_DTYPE))
    out = {lv: {name: _NpyWriter(_path(version_dir, f"{lv}.{name}"), dt, _shape(name, counts[lv], dim))
                for name, dt in VIEW_FIELDS.items()} for lv in levels}
    columns = ["image_id", "level", "bbox", "node_box", "depth", "west", "south", "east", "north", "vector"]
    for k, f in enumerate(view_files):
        t = pq.read_table(f, columns=columns)
        level = read_strings(t, "level")
        for lv in levels:
            sel = np.flatnonzero(level == lv)
            if not len(sel):
                continue
            part, o = t.take(sel), out[lv]
            o["vectors"].write(read_vectors(part, dtype=np.float16))
            o["image_idx"].write(np.fromiter((index_of[i] for i in read_strings(part, "image_id")), np.int32, len(sel)))
            o["bbox"].write(read_boxes(part, "bbox"))
            o["node_box"].write(read_boxes(part, "node_box"))
            o["depth"].write(part.column("depth").to_numpy())
            o["bounds"].write(np.stack([part.column(c).to_numpy(zero_copy_only=False).astype(np.float64)
                                        for c in ("west", "south", "east", "north")], axis=1))
        if len(view_files) >= 20 and (k + 1) % max(1, len(view_files) // 10) == 0:
            log.info("columns: %d of %d shards", k + 1, len(view_files))
    for lv in levels:
        for w in out[lv].values():
            w.close()
    n_text = sum(pq.ParquetFile(f).metadata.num_rows for f in text_files)
    text = _NpyWriter(_path(version_dir, "text.vectors"), np.float16, (n_text, dim))
    for f in text_files:
        text.write(read_vectors(pq.read_table(f, columns=["vector"]), dtype=np.float16))
    text.close()
    log.info("wrote columns: %s views, %d captions", ", ".join(f"{lv} {n}" for lv, n in counts.items()), n_text)


def read_columns(version_dir: Path, levels: list[str]) -> VersionColumns | None:
    """The version's column files, memory-mapped read-only; None when it has none (an older version)."""
    if not _path(version_dir, "images.ids").is_file():
        return None

    def load(name: str) -> np.ndarray:
        arr = np.load(_path(version_dir, name), mmap_mode="r")
        if name.endswith("vectors") and arr.nbytes > PREAD_MIN_BYTES:  # read_rows: pread, not through the map
            arr.row_fd = os.open(arr.filename, os.O_RDONLY)
            weakref.finalize(arr, os.close, arr.row_fd)
        return arr

    ids = [i.decode() for i in np.load(_path(version_dir, "images.ids")).tolist()]
    per_level = {lv: LevelColumns(**{name: load(f"{lv}.{name}") for name in VIEW_FIELDS}) for lv in levels}
    return VersionColumns(ids, per_level, load("text.vectors"))


def chunks(vectors: np.ndarray, rows: int = 262_144):
    """float32 copies of ``vectors`` ``rows`` at a time, for building indices in bounded memory.

    A memory map is read with plain file reads, not through the map: pages touched through a map count in
    the builder's resident memory until the map closes (8.4 GB of RssFile at 6M object views), pages read
    with read() stay in the kernel's page cache only."""
    filename = getattr(vectors, "filename", None)
    # Only a whole map (its base is the mmap itself) has the file offset np.memmap records; a slice does not.
    if not isinstance(vectors, np.memmap) or filename is None or not isinstance(vectors.base, mmap.mmap):
        for start in range(0, len(vectors), rows):
            yield np.ascontiguousarray(vectors[start : start + rows], dtype=np.float32)
        return
    row_items = int(np.prod(vectors.shape[1:], dtype=np.int64))
    with open(filename, "rb") as f:
        for start in range(0, len(vectors), rows):
            n = min(rows, len(vectors) - start)
            f.seek(vectors.offset + start * row_items * vectors.dtype.itemsize)
            part = np.fromfile(f, dtype=vectors.dtype, count=n * row_items)
            yield part.reshape((n, *vectors.shape[1:])).astype(np.float32)


def sample_rows(vectors: np.ndarray, rows: np.ndarray, chunk: int = 262_144) -> np.ndarray:
    """float32 (len(rows), D) copies of the sorted ``rows`` of ``vectors``, read chunk by chunk (``chunks``)
    so that sampling a memory map does not map the pages around every sampled row."""
    out, start = [], 0
    for part in chunks(vectors, chunk):
        lo, hi = np.searchsorted(rows, [start, start + len(part)])
        out.append(part[rows[lo:hi] - start])
        start += len(part)
    return np.concatenate(out) if out else np.zeros((0, *vectors.shape[1:]), np.float32)


def read_rows(vectors: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """float32 (len(rows), D): ``vectors[rows]`` in the order given (rows may repeat).

    Large vector files from ``read_columns`` are read with one pread per run of consecutive rows, not through
    their memory map: every page touched through a map, and the cached neighbours the kernel maps with each fault,
    stays in the process's resident memory while the map is open, so a replica's RSS would grow with every
    request's candidates (6.6 GB of mapped file pages after 800 queries at 10M views against 2.3 GB with pread,
    benchmarks/results/scale_10m_mapped_rows.json and scale_10m.json). pread leaves them in the
    shared, evictable page cache. Any other array is indexed directly (one run of rows of a float32 array comes
    back as a view of it: read, do not write)."""
    fd = getattr(vectors, "row_fd", None)
    if fd is None or len(rows) == 0:
        if fd is None and len(rows) and rows[-1] - rows[0] + 1 == len(rows) and (np.diff(rows) == 1).all():
            return np.asarray(vectors[int(rows[0]) : int(rows[-1]) + 1], np.float32)  # one run: a slice, no gather
        return np.asarray(vectors[rows], np.float32)
    uniq, inverse = np.unique(rows, return_inverse=True)
    buf = np.empty((len(uniq), *vectors.shape[1:]), vectors.dtype)
    row_bytes = buf[0].nbytes
    cut = np.flatnonzero(np.diff(uniq) != 1) + 1
    starts, ends = np.concatenate([[0], cut]), np.concatenate([cut, [len(uniq)]])
    flat = buf.reshape(-1).view(np.uint8)
    for a, b in zip(starts.tolist(), ends.tolist()):
        want = (b - a) * row_bytes
        got = os.preadv(fd, [flat[a * row_bytes : b * row_bytes]], vectors.offset + int(uniq[a]) * row_bytes)
        if got != want:
            raise OSError(f"short read from {vectors.filename}: {got} of {want} bytes")
    return buf[inverse.reshape(-1)].astype(np.float32)
