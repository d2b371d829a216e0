"""An in-memory IndexState of synthetic, clustered unit vectors, for latency at sizes we have no imagery for."""
from __future__ import annotations

import faiss
import numpy as np

from geoseek.indexer.builder import build_index, choose_kind
from geoseek.index.catalog import ImageRow
from geoseek.schemas import DRISParams, IndexManifest, LevelIndexInfo, ModelInfo, ObjectParams, ViewCounts
from geoseek.index.version import ImageTable, LevelData, TextData, _ranges
from geoseek.search.state import IndexState


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def clustered(n_images: int, per_image: int, centres: np.ndarray, owner: np.ndarray, rng, spread: float) -> np.ndarray:
    """per_image vectors for each image near its cluster centre (rows of one image contiguous)."""
    d = centres.shape[1]
    base = np.repeat(centres[owner], per_image, axis=0)
    return _unit(base + spread * rng.standard_normal((n_images * per_image, d)).astype(np.float32) / np.sqrt(d))


def synthetic_state(n_images: int = 100_000, per_level: dict[str, int] | None = None, dim: int = 384, seed: int = 0,
                    kinds: dict[str, str] | None = None) -> tuple[IndexState, dict[str, np.ndarray]]:
    """A state with n_images images and per_level views each; returns it and the float32 vectors per level.
    ``kinds`` forces an index kind per level (e.g. all 'flat' for exact ground truth)."""
    per_level = per_level or {"global": 1, "region": 3, "object": 6}
    rng = np.random.default_rng(seed)
    centres = _unit(rng.standard_normal((2000, dim)).astype(np.float32))
    owner = rng.integers(0, len(centres), n_images)
    ids = [f"syn{i:08d}" for i in range(n_images)]
    rows = {i: ImageRow(image_id=i, path=f"/synthetic/{i}.jpg", collection="synthetic", width=1024, height=1024, format="jpeg",
                        shard="synthetic", extra={}) for i in ids}
    images = ImageTable(ids, {i: k for k, i in enumerate(ids)}, [r.path for r in rows.values()], np.full(n_images, 1024),
                        np.full(n_images, 1024), np.full(n_images, np.datetime64("NaT"), dtype="datetime64[s]"),
                        np.full(n_images, "synthetic", dtype=object), rows)
    levels, raw, infos = {}, {}, {}
    spreads = {"global": 0.6, "region": 0.9, "object": 1.2}
    for level, per in per_level.items():
        vec = clustered(n_images, per, centres, owner, rng, spreads[level])
        img_idx = np.repeat(np.arange(n_images, dtype=np.int32), per)
        kind = (kinds or {}).get(level) or choose_kind(len(vec))
        index, params = build_index(vec, kind)
        if "efSearch" in params:
            index.hnsw.efSearch = int(params["efSearch"])
        if "nprobe" in params:
            faiss.extract_index_ivf(index).nprobe = int(params["nprobe"])
        starts, ends = _ranges(img_idx, n_images)
        n = len(vec)
        levels[level] = LevelData(index, vec.astype(np.float16), img_idx, np.zeros((n, 4), np.int32), np.zeros((n, 4), np.int32),
                                  np.zeros(n, np.int16), np.full((n, 4), np.nan), starts, ends)
        raw[level] = vec
        infos[level] = LevelIndexInfo(kind=kind, count=n, file="-", params=params)
    text = TextData(faiss.IndexFlatIP(dim), np.zeros((0, dim), np.float16), [], [], [])
    infos["text"] = LevelIndexInfo(kind="flat", count=0, file="-")
    manifest = IndexManifest(version="synthetic", geoseek_version="-", faiss_version=faiss.__version__,
                             model=ModelInfo(spec="synthetic", id="synthetic", dim=dim, image_size=160),
                             levels=list(per_level), dris=DRISParams(), objects=ObjectParams(), images=n_images, captions=0,
                             views=ViewCounts(**{lv: n_images * per for lv, per in per_level.items()}), indices=infos,
                             view_shards=[], text_shards=[])
    return IndexState("synthetic", manifest, images, levels, text), raw


def queries_near(raw: dict[str, np.ndarray], n: int, seed: int = 1) -> np.ndarray:
    """Queries near random global vectors (a text query lands near, not on, the images it describes)."""
    rng = np.random.default_rng(seed)
    g = raw["global"][rng.integers(0, len(raw["global"]), n)]
    return _unit(g + 0.8 * rng.standard_normal(g.shape).astype(np.float32) / np.sqrt(g.shape[1]))
