"""FAISS GPU copies in the embedded store: which index answers, and the fall-backs.

This machine has no GPU, so the GPU copy is stood in for by a CPU index behind the same
``search`` call (the one thing that cannot exist here); what is tested is the dispatch: the copy
answers searches up to GPU_K_MAX rows, the CPU index deeper ones, and a failing copy is dropped
without changing any answer.
"""
from __future__ import annotations

import dataclasses

import faiss
import numpy as np
import pytest

from geoseek.search import SearchEngine, gpu
from geoseek.search.candidates import candidate_images
from geoseek.search.gpu import gpu_copy
from geoseek.search.state import IndexState


class StandIn:
    """A 'GPU copy' that is a CPU flat index over the same vectors, counting its searches."""

    def __init__(self, vectors: np.ndarray, fail: bool = False) -> None:
        self.index = faiss.IndexFlatIP(vectors.shape[1])
        self.index.add(vectors.astype(np.float32))
        self.calls: list[int] = []
        self.fail = fail

    def search(self, q: np.ndarray, k: int):
        self.calls.append(k)
        if self.fail:
            raise RuntimeError("CUDA error: out of memory")
        return self.index.search(q, k)


@pytest.fixture(scope="module")
def state(small_index) -> IndexState:
    return IndexState.load(small_index.root, gpu=False)


@pytest.mark.gpu
def test_gpu_copies_exist_exactly_when_faiss_sees_a_gpu(state, small_index):
    level = state.levels["object"]
    copy = gpu_copy(level.index, level.vectors)
    loaded = IndexState.load(small_index.root)
    if faiss.get_num_gpus() == 0:  # this machine: nothing is copied, the CPU indices serve
        assert copy is None and all(d.gpu_index is None for d in loaded.levels.values())
        return
    # With a GPU: a float16 flat copy answers like the CPU index, up to k = GPU_K_MAX; deeper goes to the CPU.
    assert all(d.gpu_index is not None for d in loaded.levels.values() if d.size)
    q = level.vectors[:3].astype(np.float32)
    k = min(level.size, 50)
    cpu_ids = level.index.search(q, k)[1]
    assert (copy.search(q, k)[1][:, :5] == cpu_ids[:, :5]).mean() > 0.9  # float16 queries on the GPU: near-ties may swap
    assert IndexState.load(small_index.root, gpu=False).levels["object"].gpu_index is None


def test_the_gpu_copy_answers_shallow_searches_and_the_cpu_deep_ones(state, monkeypatch):
    level = state.levels["object"]
    q = level.vectors[:2].astype(np.float32)
    expected = candidate_images(level, q, 3, None)
    stand_in = StandIn(level.vectors)
    on_gpu = dataclasses.replace(level, gpu_index=stand_in)
    assert set(candidate_images(on_gpu, q, 3, None)) == set(expected) and stand_in.calls
    monkeypatch.setattr(gpu, "GPU_K_MAX", 1)  # every fetch is now deeper than the GPU allows
    before = len(stand_in.calls)
    assert set(candidate_images(on_gpu, q, 3, None)) == set(expected)
    assert len(stand_in.calls) == before and on_gpu.gpu_index is stand_in


def test_a_failing_gpu_copy_is_dropped_and_answers_do_not_change(state, small_index):
    level = state.levels["object"]
    q = level.vectors[:1].astype(np.float32)
    failing = StandIn(level.vectors, fail=True)
    broken = dataclasses.replace(level, gpu_index=failing)
    assert set(candidate_images(broken, q, 3, None)) == set(candidate_images(level, q, 3, None))
    assert failing.calls and broken.gpu_index is None  # not tried again
    # Through the engine: same results as the CPU-only state.
    levels = {lv: dataclasses.replace(d, gpu_index=StandIn(d.vectors, fail=lv == "region")) if d.size else d
              for lv, d in state.levels.items()}
    cpu = SearchEngine(small_index.root, device="cpu", state=state)
    mixed = SearchEngine(small_index.root, encoder=cpu.encoder, state=dataclasses.replace(state, levels=levels))
    # k=1: shallow enough that even the object level (25 cells per view) is fetched from its GPU copy.
    for text in ("a river", "planes at an airport"):
        assert [h.image_id for h in mixed.search_text(text, k=1).results] == [h.image_id for h in cpu.search_text(text, k=1).results]
    assert state.levels["region"].size > 0  # the failing copy was there, was tried, and is gone
    assert levels["object"].gpu_index.calls and levels["region"].gpu_index is None
