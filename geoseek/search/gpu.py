"""FAISS on the GPU for the embedded store: a GPU copy of each level's index, when FAISS sees a GPU.

The CPU index (memory-mapped from the index directory) stays as it is: the GPU copy answers
searches of up to GPU_K_MAX rows (FAISS GPU's top-k limit), the CPU index answers deeper ones and
any search where FAISS raises on the GPU. Flat levels go to the GPU as float16 IndexFlatIP (the same
float16 vectors as the CPU's fp16 codes); IVF-PQ levels are cloned with float16 lookup tables
(needed at 64 sub-quantisers); HNSW has no FAISS GPU counterpart and stays on the CPU.

FAISS GPU indices are not safe to search from several threads at once (one temporary-memory stack
per device, no locking), and the engine searches from request threads and its level pool: each
copy has its own resources and a lock, so the three levels still search side by side.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

import faiss
import numpy as np

log = logging.getLogger(__name__)

GPU_K_MAX = 2048  # FAISS GPU's limit on k (and nprobe)
GPU_TEMP_BYTES = 256 * 1024 * 1024  # scratch per GPU and level: plenty for a few queries at k <= 2048
_ADD_CHUNK = 262_144  # vectors converted to float32 and sent to the GPU at a time


@dataclass
class GpuCopy:
    """One level's index on the GPU(s), with the resources it owns and the lock its searches take."""

    index: faiss.Index
    resources: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        with self.lock:
            return self.index.search(queries, k)


def _clone(index: faiss.Index) -> GpuCopy:
    resources = []
    for _ in range(faiss.get_num_gpus()):
        res = faiss.StandardGpuResources()
        res.setTempMemory(GPU_TEMP_BYTES)  # the default reserves up to 1.5 GiB per GPU for each copy
        resources.append(res)
    options = faiss.GpuMultipleClonerOptions()
    options.useFloat16 = True  # flat: float16 storage; IVF-PQ: float16 lookup tables
    return GpuCopy(faiss.index_cpu_to_gpu_multiple_py(resources, index, options), resources)


def gpu_copy(index: faiss.Index, vectors: np.ndarray) -> GpuCopy | None:
    """A GPU copy of one level's ``index`` over ``vectors`` (n, D) float16, or None without a GPU,
    for HNSW, for an empty level, or when FAISS cannot clone it (logged)."""
    if faiss.get_num_gpus() == 0 or index.ntotal == 0:
        return None
    kind = type(index).__name__
    if "HNSW" in kind:
        return None
    try:
        if "IVF" in kind:
            return _clone(index)  # nprobe comes with the clone (the builder keeps it at or below 64)
        # Clone an empty float32 flat index and fill it chunk by chunk: never a float32 copy of the
        # whole level in host memory (the GPU stores float16).
        copy = _clone(faiss.IndexFlatIP(vectors.shape[1]))
        for start in range(0, len(vectors), _ADD_CHUNK):
            copy.index.add(np.ascontiguousarray(vectors[start : start + _ADD_CHUNK], dtype=np.float32))
        return copy
    except Exception:  # noqa: BLE001 - a FAISS GPU error leaves the CPU index serving
        log.exception("could not copy a %s index to the GPU; searching it on the CPU", kind)
        return None


def search(cpu: faiss.Index, gpu: GpuCopy | None, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """(scores, ids) of ``cpu.search(queries, k)``, from the GPU copy when there is one and k allows;
    the flag is False when FAISS raised on the GPU and the copy should be dropped."""
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
