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

from geoseek.index.columns import chunks, read_columns, sample_rows, write_columns
from geoseek.schemas import LevelIndexInfo
from geoseek.schemas.jobs import FLAT_MAX, HNSW_MAX

log = logging.getLogger(__name__)

# Recorded in the manifest, set at load. Over 1M clustered global views, fused top-10 agreement with exact was
# 0.926 at 128, 0.974 at 256 and 0.9975 at 512 for the same latency (benchmarks/results/scale_10m_tune.json).
HNSW_EF_SEARCH = 512


def choose_kind(n: int, flat_max: int = FLAT_MAX, hnsw_max: int = HNSW_MAX) -> str:
    """'flat' | 'hnsw' | 'ivfpq' for a collection of ``n`` vectors."""
    if n <= flat_max:
        return "flat"
    return "hnsw" if n <= hnsw_max else "ivfpq"


def build_index(vectors: np.ndarray, kind: str) -> tuple[faiss.Index, dict]:
    """Build a CPU FAISS index over unit vectors (n, D): float32, or a float16 memory map that is added
    chunk by chunk (``columns.chunks``), so building never holds a float32 copy of a whole level."""
    n, d = vectors.shape
    ngpu = faiss.get_num_gpus()
    if kind == "flat":
        # Exhaustive search over float16 codes: exact for our vectors (the Parquet source of truth is
        # float16 already) and half the bytes of IndexFlatIP, which matters because a flat scan is
        # memory-bound once it leaves the cache (measured 5.3 ms -> 1.0 ms at 30k x 384 on 2 cores).
        index = faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
        index.train(np.zeros((1, d), np.float32))  # fp16 has nothing to learn; train() only marks it trained
        for part in chunks(vectors):
            index.add(part)
        return index, {"storage": "fp16"}
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        for part in chunks(vectors):
            index.add(part)
        return index, {"efSearch": HNSW_EF_SEARCH, "M": 32}
    # 2 sqrt(n) lists, trained on 64 points each and 10 k-means rounds: at 6M views that is 4,900 lists trained in
    # minutes on 2 cores (4 sqrt(n) lists on 256 points each, FAISS's upper advice, would take over an hour), and
    # exact rescoring of the candidates makes up for coarser lists.
    nlist = int(2 * math.sqrt(n))
    # At most 64 sub-quantisers (GPU IVF-PQ's limit per code), as many as divide d.
    m = next(m for m in (64, 48, 32, 24, 16, 12, 8, 4, 2, 1) if m <= d and d % m == 0)
    # "np": no polysemous training. It only reorders PQ codes for polysemous (Hamming) filtering, which
    # GeoSeek never uses, so the codes' distances are identical; it was 47 of 50 s of this build at 5,000 x 32.
    index = faiss.index_factory(d, f"IVF{nlist},PQ{m}np", faiss.METRIC_INNER_PRODUCT)
    # Sorted sample rows, read in one forward sweep.
    rows = np.sort(np.random.default_rng(0).choice(n, size=min(n, 64 * nlist), replace=False))
    train = sample_rows(vectors, rows)
    faiss.extract_index_ivf(index).cp.niter = 10
    target = faiss.index_cpu_to_all_gpus(index) if ngpu > 0 else index
    target.train(train)
    del train
    for part in chunks(vectors):
        target.add(part)
    if ngpu > 0:
        index = faiss.index_gpu_to_cpu(target)
    return index, {"nprobe": min(nlist, 64), "nlist": nlist, "m": m}


def build_all(version_dir: Path, view_files: list[Path], text_files: list[Path], levels: list[str], dim: int,
              flat_max: int = FLAT_MAX, hnsw_max: int = HNSW_MAX) -> dict[str, LevelIndexInfo]:
    """Write the version's column files (``geoseek.index.columns``), then ``<level>.faiss`` for each level and
    ``text.faiss`` from them; FAISS ids are row order in shard order."""
    out = {}
    write_columns(version_dir, view_files, text_files, levels, dim)
    cols = read_columns(version_dir, levels)
    targets = [(lvl, cols.levels[lvl].vectors) for lvl in levels] + [("text", cols.text_vectors)]
    for name, vecs in targets:
        kind = choose_kind(len(vecs), flat_max, hnsw_max)
        if kind != "flat" and len(vecs) < 1024:
            kind = "flat"  # ANN structures need more points than this to train or pay off
        log.info("building %s index: %s over %d vectors", name, kind, len(vecs))
        index, params = build_index(vecs, kind)
        fname = f"{name}.faiss"
        faiss.write_index(index, str(version_dir / fname))
        out[name] = LevelIndexInfo(kind=kind, count=int(index.ntotal), file=fname, params=params)
        log.info("built %s index: %s over %d vectors", name, kind, index.ntotal)
    return out
