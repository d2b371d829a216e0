"""The Milvus vector store: one collection per view level plus one for captions, per index version.

A collection holds a level's float16 source vectors (as float32) with the fields the filters need:
``image_idx``, the view's WGS84 bounds and its image's datetime and collection. The bbox, date,
collection and "not this image" filters become a Milvus boolean expression, so Milvus filters
before it ranks, and ``group_by_field=image_idx`` returns the n best *images* (by best view) in one
call, the same answer the FAISS store gives. Collection names derive from the index version, so a
new version gets new collections and replicas never see a half-switched store.

The store is filled from the index version on first open (idempotent upserts, so replicas starting
together converge) and reused afterwards. Milvus Lite (``*.db`` path) runs in-process for tests and
single machines; ``milvus://host:port`` reaches a Milvus server or cluster with the same client API.
"""
from __future__ import annotations

import hashlib
import logging
import sqlite3
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import numpy as np

from geoseek.extras import require
from geoseek.index.version import VersionData
from geoseek.search.filters import FilterError, Filters
from geoseek.search.vector_store import StoreError

log = logging.getLogger(__name__)

NO_GEOREF = (999.0, 999.0, -999.0, -999.0)  # west, south, east, north of views without a georeference: meets no bbox
NO_TIME = -(2**62)  # datetime of images without one: excluded by any date filter
UPSERT_BATCH = 2_000
# Index types that support group-by search (Milvus's GPU indexes do not). Only FLAT is exact: the
# others trade recall for speed like FAISS HNSW/IVF, with the search parameters below.
INDEX_TYPES = ("FLAT", "IVF_FLAT", "HNSW", "AUTOINDEX")
IVF_NLIST, IVF_NPROBE, HNSW_EF_MIN = 1024, 64, 128


def _literal(value: float | int | str) -> str:
    """A Milvus expression literal (this Milvus Lite has no filter templates)."""
    if isinstance(value, str):
        # Milvus decodes \\ and \" in string literals, but no other escapes, and a raw newline ends the expression.
        if any(ord(c) < 32 and c != "\t" for c in value):
            raise FilterError(f"collection name {value!r} has control characters; the Milvus store cannot filter on it")
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    kind = np.asarray(value).dtype.kind
    return repr(int(value)) if kind in "iub" else repr(float(value))


def filter_expression(filters: Filters, exclude: int | None) -> str:
    """The Milvus boolean expression for the filters ('' = everything allowed)."""
    parts = []
    if filters.bbox is not None:
        w, s, e, n = (_literal(v) for v in filters.bbox)
        parts.append(f"west <= {e} and east >= {w} and south <= {n} and north >= {s}")
    if filters.start is not None or filters.end is not None:
        parts.append(f"t != {NO_TIME}")
        if filters.start is not None:
            parts.append(f"t >= {_literal(_epoch(np.datetime64(filters.start, 's')))}")
        if filters.end is not None:
            parts.append(f"t <= {_literal(_epoch(np.datetime64(filters.end, 's')))}")
    if filters.collections:
        parts.append(f"collection in [{', '.join(_literal(c) for c in filters.collections)}]")
    if exclude is not None:
        parts.append(f"image_idx != {_literal(exclude)}")
    return " and ".join(f"({p})" for p in parts)


def _epoch(dt: np.ndarray | np.datetime64) -> np.ndarray:
    """datetime64[s] -> int64 seconds since 1970, NaT -> NO_TIME."""
    dt = np.asarray(dt, "datetime64[s]")
    return np.where(np.isnat(dt), NO_TIME, dt.astype(np.int64))


def collection_names(state: VersionData, index_type: str = "FLAT") -> dict[str, str]:
    """Collection per level and 'text', unique to this index version and Milvus index type (Milvus
    names: letters, digits, _), so asking for another index type never searches the old one."""
    m = state.manifest
    tag = hashlib.sha1(f"{m.version}|{m.created.isoformat()}|{','.join(m.view_shards)}".encode()).hexdigest()[:12]
    return {name: f"geoseek_{tag}_{index_type.lower()}_{name}" for name in [*state.levels, "text"]}


def parse_uri(spec: str) -> tuple[str, str]:
    """``--store`` value -> (pymilvus uri, index type). milvus://host:port becomes http://host:port."""
    parts = urlsplit(spec)
    index_type = (parse_qs(parts.query).get("index", ["FLAT"])[0]).upper()
    if index_type not in INDEX_TYPES:
        raise StoreError(f"Milvus index type '{index_type}' is not one of {', '.join(INDEX_TYPES)}")
    if parts.scheme == "milvus":
        if not parts.hostname or not parts.port:
            raise StoreError(f"--store '{spec}' needs a host and port: milvus://host:port")
        return f"http://{parts.hostname}:{parts.port}", index_type
    if parts.scheme in ("http", "https"):
        return parts._replace(query="").geturl(), index_type
    return str(Path(spec.split("?", 1)[0]).expanduser()), index_type


def check_lite_file(path: str) -> None:
    """Refuse to open an existing file that is not a Milvus Lite database: Milvus Lite would add its
    tables to any SQLite file (and fail on anything else)."""
    file = Path(path)
    if not file.parent.is_dir():
        raise StoreError(f"Milvus Lite file {path}: directory {file.parent} does not exist")
    if not file.exists() or file.stat().st_size == 0:
        return
    try:
        with sqlite3.connect(f"file:{file}?mode=ro", uri=True) as db:
            tables = {r[0] for r in db.execute("select name from sqlite_master where type='table'")}
    except sqlite3.DatabaseError:
        tables = set()
    if "collection_meta" not in tables:
        raise StoreError(f"{path} exists and is not a Milvus Lite database; GeoSeek will not write into it "
                         "(give a new file name)")


class MilvusStore:
    """VectorStore over Milvus collections (see the module docstring)."""

    kind = "milvus"

    def __init__(self, client: Any, names: dict[str, str], grouped: dict[str, bool], sizes: dict[str, int],
                 params: dict | None = None, dim: int = 0) -> None:
        self.client = client
        self.dim = dim
        self.names = names
        self.grouped = grouped  # levels with several views per image need group-by to count images
        self.sizes = sizes
        self.params = params or {}
        self.added: dict[str, int] = {}  # rows this open upserted, per collection (0: it was complete)

    @classmethod
    def open(cls, spec: str, state: VersionData) -> "MilvusStore":
        """Connect, and create and fill this version's collections unless they are complete already."""
        MilvusClient = require("pymilvus", "milvus", "Milvus stores").MilvusClient
        # pymilvus imports scipy.sparse on its first search; the engine searches levels on several threads,
        # and two threads importing it at once can see it half-initialised. Import it here, once.
        import scipy.sparse  # noqa: F401

        uri, index_type = parse_uri(spec)
        lite = "://" not in uri
        if lite:
            require("milvus_lite", "milvus", "Milvus Lite stores (.db files)")
            check_lite_file(uri)
        try:
            client = MilvusClient(uri=uri)
        except Exception as exc:  # noqa: BLE001 - pymilvus raises several types for "cannot connect"
            hint = (" (if another process has the file open: a Milvus Lite file serves one process at a time; to "
                    "share a store between processes run Milvus and pass milvus://host:port)") if lite else ""
            raise StoreError(f"cannot reach Milvus at {uri}: {exc}{hint}") from None
        names = collection_names(state, index_type)
        sizes = {lv: d.size for lv, d in state.levels.items()} | {"text": len(state.text.text_ids)}
        grouped = {lv: d.size > int((d.ends > d.starts).sum()) for lv, d in state.levels.items()}
        dim = state.levels["global"].vectors.shape[1]
        store = cls(client, names, grouped, sizes, _search_params(index_type), dim)
        try:
            for lv in state.levels:
                store._ensure(names[lv], dim, index_type, lambda lv=lv: _view_rows(state, lv), sizes[lv], views=True)
            store._ensure(names["text"], dim, index_type, lambda: _text_rows(state), sizes["text"], views=False)
        except StoreError:
            client.close()
            raise
        except Exception as exc:  # noqa: BLE001
            client.close()
            raise StoreError(f"Milvus at {uri}: could not prepare collections for version {state.version}: {exc}") from exc
        log.info("Milvus store %s ready for version %s (%s)", uri, state.version, ", ".join(names.values()))
        return store

    def _ensure(self, name: str, dim: int, index_type: str, rows: Any, expected: int, views: bool) -> None:
        c = self.client
        if not c.has_collection(name):
            try:
                c.create_collection(name, schema=_schema(dim, views), index_params=_index_params(c, index_type),
                                    consistency_level="Strong")
            except Exception:
                if not c.has_collection(name):
                    raise
                if not c.list_indexes(name):  # created but unusable (the index type was refused): remove it
                    c.drop_collection(name)
                    raise
                # else another replica created it at the same moment: use it
        c.load_collection(name)
        have = self.count(name)
        self.added[name] = 0
        if have == expected:
            return
        log.info("filling Milvus collection %s: %d of %d rows present", name, have, expected)
        for batch in _batches(rows(), UPSERT_BATCH):
            c.upsert(name, batch)
        c.flush(name)
        self.added[name] = expected - have
        have = self.count(name)
        if have != expected:
            raise StoreError(f"Milvus collection {name} holds {have} rows after filling; the index version has {expected}")

    def count(self, name: str) -> int:
        """Rows in collection ``name``."""
        return int(self.client.query(name, filter="", output_fields=["count(*)"])[0]["count(*)"])

    def nearest_images(self, level: str, queries: np.ndarray, n: int, filters: Filters, exclude: int | None,
                       row_mask: np.ndarray | None) -> np.ndarray:
        if self.sizes[level] == 0:
            return np.zeros(0, np.int64)
        extra = {"group_by_field": "image_idx"} if self.grouped[level] else {}
        hits = self._search(self.names[level], queries, n, filter_expression(filters, exclude), ["image_idx"], extra)
        return np.unique(np.array([h["entity"]["image_idx"] for per_query in hits for h in per_query], np.int64))

    def nearest_texts(self, queries: np.ndarray, n: int) -> np.ndarray:
        if self.sizes["text"] == 0:
            return np.zeros(0, np.int64)
        hits = self._search(self.names["text"], queries, n, "", [], {})
        return np.unique(np.array([h["id"] for per_query in hits for h in per_query], np.int64))

    def view_vectors(self, level: str, image: int) -> np.ndarray:
        name = self.names[level]
        try:
            rows = self.client.query(name, filter=f"image_idx == {int(image)}", output_fields=["row", "vector"])
        except Exception as exc:  # noqa: BLE001
            raise StoreError(f"Milvus search in {name} failed (reading image {image}'s views): {exc}") from exc
        rows = sorted(rows, key=lambda r: r["row"])
        return np.array([r["vector"] for r in rows], np.float32).reshape(len(rows), self.dim)

    def _search(self, name: str, queries: np.ndarray, n: int, expr: str, fields: list[str], extra: dict) -> list:
        try:
            limit = min(n, 16_384)  # Milvus's top-k limit; n is at most 4 x MAX_K = 4,000
            params = {k: max(v, limit) if k == "ef" else v for k, v in self.params.items()}  # HNSW needs ef >= limit
            return self.client.search(name, data=np.asarray(queries, np.float32).tolist(), limit=limit, filter=expr,
                                      output_fields=fields, search_params={"metric_type": "IP", "params": params}, **extra)
        except Exception as exc:  # noqa: BLE001
            raise StoreError(f"Milvus search in {name} failed: {exc}") from exc

    def close(self) -> None:
        self.client.close()


def _schema(dim: int, views: bool) -> Any:
    from pymilvus import DataType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("row", DataType.INT64, is_primary=True)  # the row in the level (= FAISS id)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    if views:
        schema.add_field("image_idx", DataType.INT64)
        for name in ("west", "south", "east", "north"):
            schema.add_field(name, DataType.DOUBLE)
        schema.add_field("t", DataType.INT64)  # image datetime, seconds since 1970 (NO_TIME if unknown)
        schema.add_field("collection", DataType.VARCHAR, max_length=512)
    return schema


def _index_params(client: Any, index_type: str) -> Any:
    params = client.prepare_index_params()
    extra = {"HNSW": {"M": 32, "efConstruction": 80}, "IVF_FLAT": {"nlist": IVF_NLIST}}.get(index_type, {})
    params.add_index("vector", index_type=index_type, metric_type="IP", params=extra)
    return params


def _search_params(index_type: str) -> dict:
    """What FAISS's builder uses too: ef 128 for HNSW (raised to the limit), nprobe 64 for IVF."""
    return {"HNSW": {"ef": HNSW_EF_MIN}, "IVF_FLAT": {"nprobe": IVF_NPROBE}}.get(index_type, {})


def _view_rows(state: VersionData, level: str) -> Iterator[dict]:
    data = state.levels[level]
    # Any unknown bound makes the view unlocatable, as in the in-memory filter (NaN compares False).
    bounds = np.where(np.isnan(data.bounds).any(axis=1, keepdims=True), np.array(NO_GEOREF), data.bounds)
    t = _epoch(state.images.datetime)[data.image_idx]
    collection = state.images.collection[data.image_idx]
    for start in range(0, data.size, UPSERT_BATCH):
        vec = data.vectors[start : start + UPSERT_BATCH].astype(np.float32)
        for j, v in enumerate(vec):
            r = start + j
            w, s, e, n = bounds[r]
            yield {"row": r, "vector": v.tolist(), "image_idx": int(data.image_idx[r]), "west": float(w), "south": float(s),
                   "east": float(e), "north": float(n), "t": int(t[r]), "collection": str(collection[r])}


def _text_rows(state: VersionData) -> Iterator[dict]:
    vec = state.text.vectors
    for start in range(0, len(vec), UPSERT_BATCH):
        for j, v in enumerate(vec[start : start + UPSERT_BATCH].astype(np.float32)):
            yield {"row": start + j, "vector": v.tolist()}


def _batches(rows: Iterator[dict], size: int) -> Iterator[list[dict]]:
    batch: list[dict] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
