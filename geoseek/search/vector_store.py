"""Vector stores: where the nearest-neighbour search of one index version runs.

Every store answers the same two questions, so fusion, filters and rescoring sit on top unchanged:
- ``nearest_images``: for each query vector, the n images whose best allowed view of a level
  scores highest (inner product of unit vectors);
- ``nearest_texts``: for each query vector, the n best caption rows.

Backends: the FAISS indices inside the index directory (the embedded default; GPU when FAISS
sees one) and Milvus (``milvus://host:port`` for a server or cluster, or a Milvus Lite ``.db``
file), which holds the three view collections and the caption collection and evaluates the
bbox/date/collection filters itself.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

from geoseek.schemas.errors import StoreError  # noqa: F401 - raised here, re-exported
from geoseek.search.filters import Filters

FAISS = "faiss"


class VectorStore(Protocol):
    """Nearest-neighbour search over one index version's view levels and captions."""

    kind: str

    def nearest_images(self, level: str, queries: np.ndarray, n: int, filters: Filters, exclude: int | None,
                       row_mask: np.ndarray | None) -> np.ndarray:
        """Image indices (unique, int64): for each of ``queries`` (m, D) float32, the n images whose best
        view of ``level`` scores highest among the views the filters allow. ``exclude`` is an image
        index left out; ``row_mask`` (rows,) bool is the same filter evaluated in memory (None = all)."""
        ...

    def nearest_texts(self, queries: np.ndarray, n: int) -> np.ndarray:
        """Caption rows (unique, int64): the n best for each of ``queries`` (m, D) float32."""
        ...

    def view_vectors(self, level: str, image: int) -> np.ndarray:
        """The stored vectors of one image's views at ``level``, in row order: (n_views, D) float32 ((0, D) if none)."""
        ...

    def close(self) -> None:
        """Release connections (a no-op for FAISS)."""
        ...
