"""FAISS on the GPU for the embedded store: a GPU copy of each level's index, when FAISS sees a GPU.

The CPU index (memory-mapped from the index directory) stays as it is: the GPU copy answers
searches of up to GPU_K_MAX rows (FAISS GPU's top-k limit), the CPU index answers deeper ones and
any search the GPU fails. Flat levels go to the GPU as float16 IndexFlatIP (the same float16
vectors as the CPU's fp16 codes); IVF-PQ levels are cloned with float16 lookup tables (needed at
64 sub-quantisers); HNSW has no FAISS GPU counterpart and stays on the CPU.
"""
from __future__ import annotations

import logging

import faiss
import numpy as np

log = logging.getLogger(__name__)

GPU_K_MAX = 2048  # FAISS GPU's limit on k (and nprobe)
_ADD_CHUNK = 262_144  # vectors converted to float32 at a time while building the GPU copy


def gpu_copy(index: faiss.Index, vectors: np.ndarray, params: dict) -> faiss.Index | None:
    """A GPU copy of one level's ``index`` over ``vectors`` (n, D) float16, or None without a GPU,
    for HNSW, for an empty level, or when FAISS cannot clone it (logged)."""
    if faiss.get_num_gpus() == 0 or index.ntotal == 0:
        return None
    kind = type(index).__name__
    if "HNSW" in kind:
        return None
    try:
        options = faiss.GpuMultipleClonerOptions()
        options.useFloat16 = True  # flat: fp16 storage; IVF-PQ: fp16 lookup tables
        if "IVF" in kind:
            gpu = faiss.index_cpu_to_all_gpus(index, options)
            if "nprobe" in params:
                faiss.GpuParameterSpace().set_index_parameter(gpu, "nprobe", min(int(params["nprobe"]), GPU_K_MAX))
            return gpu
        flat = faiss.IndexFlatIP(vectors.shape[1])
        for start in range(0, len(vectors), _ADD_CHUNK):
            flat.add(np.ascontiguousarray(vectors[start : start + _ADD_CHUNK], dtype=np.float32))
        return faiss.index_cpu_to_all_gpus(flat, options)
    except Exception:  # noqa: BLE001 - any FAISS GPU failure leaves the CPU index serving
        log.exception("could not copy a %s index to the GPU; searching it on the CPU", kind)
        return None


def search(cpu: faiss.Index, gpu: faiss.Index | None, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """(scores, ids) of ``cpu.search(queries, k)``, from the GPU copy when there is one and k allows;
    the flag is False when the GPU copy failed and should be dropped."""
    if gpu is not None and k <= GPU_K_MAX:
        try:
            scores, ids = gpu.search(queries, k)
            return scores, ids, True
        except Exception:  # noqa: BLE001 - the CPU index gives the same answer
            log.exception("GPU search failed (k=%d); using the CPU index from now on", k)
            scores, ids = cpu.search(queries, k)
            return scores, ids, False
    scores, ids = cpu.search(queries, k)
    return scores, ids, True
