"""Parquet shards: the source of truth for vectors (float16) and their metadata.

One shard per batch of images: ``<name>.views.parquet`` (global, region and object views)
and ``<name>.texts.parquet`` (captions). Files are written to a temporary name, fsynced and
renamed, so a shard on disk is always complete.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def _box_type() -> pa.DataType:
    return pa.list_(pa.int32(), 4)


def views_schema(dim: int) -> pa.Schema:
    return pa.schema([
        ("node_id", pa.string()),
        ("image_id", pa.string()),
        ("level", pa.string()),
        ("parent", pa.int32()),  # index of the view this one lies in (-1 for global)
        ("depth", pa.int16()),
        ("bbox", _box_type()),  # source pixels the vector describes (x0, y0, x1, y1)
        ("node_box", _box_type()),  # quadtree node (region/global) or segment box (object)
        ("complexity", pa.float32()),
        ("saliency", pa.float32()),
        ("west", pa.float64()), ("south", pa.float64()), ("east", pa.float64()), ("north", pa.float64()),
        ("vector", pa.list_(pa.float16(), dim)),
    ])


def texts_schema(dim: int) -> pa.Schema:
    return pa.schema([
        ("text_id", pa.string()),
        ("image_id", pa.string()),
        ("text", pa.string()),
        ("split", pa.string()),
        ("vector", pa.list_(pa.float16(), dim)),
    ])


def vectors_column(vectors: np.ndarray) -> pa.FixedSizeListArray:
    """(n, D) float -> Arrow fixed-size list of float16."""
    v = np.ascontiguousarray(vectors, dtype=np.float16)
    return pa.FixedSizeListArray.from_arrays(pa.array(v.reshape(-1), type=pa.float16()), v.shape[1])


def read_vectors(table: pa.Table, column: str = "vector", dtype: type = np.float32) -> np.ndarray:
    """Arrow fixed-size list column -> (n, D) array of ``dtype`` (float32 to compute, float16 to keep)."""
    col = table.column(column).combine_chunks()
    dim = col.type.list_size
    return col.values.to_numpy(zero_copy_only=False).astype(dtype, copy=False).reshape(-1, dim)


def read_boxes(table: pa.Table, column: str) -> np.ndarray:
    """A box column (``bbox`` or ``node_box``) -> (n, 4) int32 x0, y0, x1, y1 in source pixels."""
    col = table.column(column).combine_chunks()
    return col.values.to_numpy(zero_copy_only=False).astype(np.int32).reshape(-1, 4)


def read_strings(table: pa.Table, column: str) -> np.ndarray:
    """A string column -> (n,) object array."""
    return np.asarray(table.column(column).to_numpy(zero_copy_only=False))


SEARCH_VIEW_COLUMNS = ["image_id", "level", "bbox", "node_box", "depth", "west", "south", "east", "north", "vector"]
SEARCH_TEXT_COLUMNS = ["text_id", "image_id", "text", "vector"]


def read_views(files: list[Path], columns: list[str] | None = None) -> pa.Table:
    """The view rows of some shards' ``.views.parquet`` files, in file order (an image's rows stay contiguous)."""
    return _read(files, columns or SEARCH_VIEW_COLUMNS, views_schema)


def read_texts(files: list[Path], columns: list[str] | None = None) -> pa.Table:
    """The caption rows of some shards' ``.texts.parquet`` files, in file order."""
    return _read(files, columns or SEARCH_TEXT_COLUMNS, texts_schema)


def _read(files: list[Path], columns: list[str], schema) -> pa.Table:
    known = set(schema(1).names)
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise ValueError(f"not shard columns: {unknown}; a shard has {sorted(known)}")
    return pq.read_table(files, columns=columns)


def write_table_atomic(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)  # the rename itself must survive a power cut
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_shard(folder: Path, name: str, views: dict[str, list], view_vectors: np.ndarray,
                texts: dict[str, list], text_vectors: np.ndarray, dim: int) -> None:
    """Write one shard's two Parquet files; columns are given as dicts of lists (without vectors)."""
    vt = pa.Table.from_pydict({**views, "vector": vectors_column(view_vectors.reshape(-1, dim))}, schema=views_schema(dim))
    tt = pa.Table.from_pydict({**texts, "vector": vectors_column(text_vectors.reshape(-1, dim))}, schema=texts_schema(dim))
    write_table_atomic(tt, folder / f"{name}.texts.parquet")
    write_table_atomic(vt, folder / f"{name}.views.parquet")
