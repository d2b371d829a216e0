"""The embedded vector store: the FAISS indices inside the index directory (flat, HNSW or IVF-PQ;
on the GPU when the version's levels carry GPU copies)."""
from __future__ import annotations

import numpy as np

from geoseek.index.columns import read_rows
from geoseek.index.version import VersionData
from geoseek.search.candidates import candidate_images
from geoseek.search.filters import Filters
from geoseek.search.vector_store import FAISS


class FaissStore:
    """Answers the VectorStore questions from one version's FAISS indices."""

    kind = FAISS

    def __init__(self, data: VersionData) -> None:
        self.state = data

    def nearest_images(self, level: str, queries: np.ndarray, n: int, filters: Filters, exclude: int | None,
                       row_mask: np.ndarray | None) -> np.ndarray:
        return candidate_images(self.state.levels[level], queries, n, row_mask)

    def nearest_texts(self, queries: np.ndarray, n: int) -> np.ndarray:
        text = self.state.text
        fetch = min(len(text.text_ids), n)
        if fetch == 0:
            return np.zeros(0, np.int64)
        _, ids = text.index.search(np.ascontiguousarray(queries, np.float32), fetch)
        return np.unique(ids[ids >= 0]).astype(np.int64)

    def view_vectors(self, level: str, image: int) -> np.ndarray:
        d = self.state.levels[level]
        return read_rows(d.vectors, np.arange(d.starts[image], d.ends[image]))

    def close(self) -> None:
        pass
