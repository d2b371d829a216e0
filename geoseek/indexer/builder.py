"""Build the FAISS indices of a version from its Parquet shards.

Inner product over L2-normalised vectors (= cosine). Exact flat search (float16 codes) for small collections;
HNSW for large ones (fast and recall-tunable on CPU); IVF-PQ beyond that, trained on the GPU
when ``faiss.get_num_gpus() > 0``. The decision is made once per build; CPU copies go to disk.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path

import faiss
import numpy as np

from geoseek.index.shards import level_vectors
from geoseek.schemas import LevelIndexInfo
from geoseek.schemas.jobs import FLAT_MAX, HNSW_MAX

log = logging.getLogger(__name__)



def choose_kind(n: int, flat_max: int = FLAT_MAX, hnsw_max: int = HNSW_MAX) -> str:
    """'flat' | 'hnsw' | 'ivfpq' for a collection of ``n`` vectors."""
    if n <= flat_max:
        return "flat"
    return "hnsw" if n <= hnsw_max else "ivfpq"


def build_index(vectors: np.ndarray, kind: str) -> tuple[faiss.Index, dict]:
    """Build a CPU FAISS index over unit vectors (n, D) float32; returns it and its search params."""
    n, d = vectors.shape
    ngpu = faiss.get_num_gpus()
    if kind == "flat":
        # Exhaustive search over float16 codes: exact for our vectors (the Parquet source of truth is
        # float16 already) and half the bytes of IndexFlatIP, which matters because a flat scan is
        # memory-bound once it leaves the cache (measured 5.3 ms -> 1.0 ms at 30k x 384 on 2 cores).
        index = faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors[:1] if len(vectors) else np.zeros((1, d), np.float32))
        index.add(vectors)
        return index, {"storage": "fp16"}
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.add(vectors)
        return index, {"efSearch": 128, "M": 32}
    nlist = int(4 * math.sqrt(n))
    # At most 64 sub-quantisers (GPU IVF-PQ's limit per code), as many as divide d.
    m = next(m for m in (64, 48, 32, 24, 16, 12, 8, 4, 2, 1) if m <= d and d % m == 0)
    # "np": no polysemous training. It only reorders PQ codes for polysemous (Hamming) filtering, which
    # GeoSeek never uses, so the codes' distances are identical; it was 47 of 50 s of this build at 5,000 x 32.
    index = faiss.index_factory(d, f"IVF{nlist},PQ{m}np", faiss.METRIC_INNER_PRODUCT)
    train = vectors[np.random.default_rng(0).choice(n, size=min(n, 256 * nlist), replace=False)]
    if ngpu > 0:
        gpu = faiss.index_cpu_to_all_gpus(index)
        gpu.train(train)
        gpu.add(vectors)
        index = faiss.index_gpu_to_cpu(gpu)
    else:
        index.train(train)
        index.add(vectors)
    return index, {"nprobe": min(nlist, 64), "nlist": nlist, "m": m}


def build_all(version_dir: Path, view_files: list[Path], text_files: list[Path], levels: list[str], dim: int,
              flat_max: int = FLAT_MAX, hnsw_max: int = HNSW_MAX) -> dict[str, LevelIndexInfo]:
    """Write ``<level>.faiss`` for each level and ``text.faiss``; FAISS ids are row order in shard order."""
    out = {}
    targets = [(lvl, view_files, lvl) for lvl in levels] + [("text", text_files, None)]
    for name, files, level in targets:
        vecs = level_vectors(files, level)
        if vecs.size == 0:
            vecs = np.zeros((0, dim), np.float32)
        kind = choose_kind(len(vecs), flat_max, hnsw_max)
        if kind != "flat" and len(vecs) < 1024:
            kind = "flat"  # ANN structures need more points than this to train or pay off
        index, params = build_index(np.ascontiguousarray(vecs), kind)
        fname = f"{name}.faiss"
        faiss.write_index(index, str(version_dir / fname))
        out[name] = LevelIndexInfo(kind=kind, count=int(index.ntotal), file=fname, params=params)
        log.info("built %s index: %s over %d vectors", name, kind, index.ntotal)
    return out
