"""In-memory variants of a loaded index for like-for-like comparisons: other FAISS kinds, GPU copies, sizes.

A variant shares the loaded state's vectors, boxes and images and swaps only the FAISS indices,
so search results differ only by what the index kind changes (ANN approximations).
"""
from __future__ import annotations

import dataclasses
import logging

import faiss
import numpy as np

from geoseek.index.version import apply_search_params
from geoseek.indexer.builder import build_index
from geoseek.search.gpu import gpu_copy
from geoseek.search.state import IndexState

log = logging.getLogger(__name__)

ANN_MIN_VECTORS = 1024  # the builder's own rule: below this ANN structures do not train or pay off


class VariantError(ValueError):
    """A variant that cannot be built for this index (too few vectors, no GPU)."""


def with_kind(state: IndexState, kind: str) -> IndexState:
    """A copy of ``state`` whose levels are searched by a ``kind`` index (flat|hnsw|ivfpq).

    As the builder does, levels with fewer than ANN_MIN_VECTORS vectors stay flat; VariantError
    when no level is large enough for an ANN kind.
    """
    # IVF-PQ also trains 256 centroids per sub-quantiser: FAISS refuses fewer training points.
    need = 0 if kind == "flat" else max(ANN_MIN_VECTORS, 256) if kind == "ivfpq" else ANN_MIN_VECTORS
    levels = [lv for lv, d in state.levels.items() if d.size >= need]
    if not levels:
        raise VariantError(f"{kind} needs a level with at least {need} vectors; "
                           + ", ".join(f"{lv} has {d.size}" for lv, d in state.levels.items()))
    new = {lv: dataclasses.replace(d, gpu_index=None) for lv, d in state.levels.items()}  # CPU variants
    for lv in levels:
        index, params = build_index(np.ascontiguousarray(state.levels[lv].vectors, dtype=np.float32), kind)
        apply_search_params(index, params)
        new[lv] = dataclasses.replace(state.levels[lv], index=index, gpu_index=None)
    return dataclasses.replace(state, levels=new)


def kinds_of(state: IndexState) -> dict[str, str]:
    """The FAISS kind each level of a (possibly variant) state searches with: [gpu-]flat | hnsw | ivfpq."""
    def kind(data) -> str:
        name = type(data.index).__name__
        base = "hnsw" if "HNSW" in name else "ivfpq" if "IVF" in name else "flat"
        return f"gpu-{base}" if data.gpu_index is not None else base
    return {lv: kind(d) for lv, d in state.levels.items()}


def cpu_only(state: IndexState) -> IndexState:
    """A copy of ``state`` without GPU copies of its indices (what a `--device cpu` engine loads)."""
    return dataclasses.replace(state, levels={lv: dataclasses.replace(d, gpu_index=None) for lv, d in state.levels.items()})


def on_gpu(state: IndexState) -> IndexState:
    """A copy of a flat ``state`` with GPU copies of its indices (what the engine loads when FAISS sees
    a GPU: see geoseek.search.gpu); VariantError without a GPU."""
    if faiss.get_num_gpus() == 0:
        raise VariantError("no GPU: faiss.get_num_gpus() == 0")
    new = {lv: dataclasses.replace(d, gpu_index=gpu_copy(d.index, d.vectors)) for lv, d in state.levels.items()}
    if any(d.gpu_index is None for lv, d in new.items() if d.size):
        raise VariantError("FAISS could not copy every level to the GPU (see the log)")
    return dataclasses.replace(state, levels=new)


def index_bytes(state: IndexState, levels: list[str]) -> dict[str, int]:
    """Bytes per level: the FAISS index as serialised, the float16 vectors kept for exact rescoring, and the
    per-view arrays search holds in memory (boxes, WGS84 bounds, image index, depth)."""
    out = {"faiss": 0, "rescoring_vectors": 0, "view_metadata": 0}
    for lv in levels:
        data = state.levels[lv]
        out["faiss"] += int(faiss.serialize_index(data.index).nbytes)  # CPU indices only
        out["rescoring_vectors"] += int(data.vectors.nbytes)
        out["view_metadata"] += sum(int(a.nbytes) for a in (data.bbox, data.node_box, data.bounds, data.image_idx, data.depth))
    return out


def bytes_per_image(state: IndexState, levels: list[str], rescoring: bool) -> dict[str, float]:
    """Index memory per image (bytes): FAISS, plus the rescoring vectors and view metadata when search reads them.

    A plain global-only index (clip-retrieval style: one vector per image, flat) needs neither: its
    FAISS row is the image. Fused search rescores candidates exactly and returns boxes, so its
    vectors and per-view metadata are part of its footprint.
    """
    n = max(1, len(state.images.ids))
    b = index_bytes(state, levels)
    extra = ("rescoring_vectors", "view_metadata") if rescoring else ()
    total = b["faiss"] + sum(b[k] for k in extra)
    return {"faiss": round(b["faiss"] / n, 1), **{k: round(b[k] / n, 1) if k in extra else 0.0
                                                   for k in ("rescoring_vectors", "view_metadata")},
            "total": round(total / n, 1)}
