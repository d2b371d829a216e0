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

from typing import TYPE_CHECKING, Protocol

import numpy as np

from geoseek.search.candidates import candidate_images
from geoseek.search.filters import Filters

if TYPE_CHECKING:
    from geoseek.search.state import IndexState

FAISS = "faiss"


class StoreError(RuntimeError):
    """A vector store that cannot be reached, created or searched; the message says which and why."""


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

    def close(self) -> None:
        """Release connections (a no-op for FAISS)."""
        ...


class FaissStore:
    """The FAISS indices loaded with the state (flat, HNSW or IVF-PQ; on GPU when the state's are)."""

    kind = FAISS

    def __init__(self, state: "IndexState") -> None:
        self.state = state

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

    def close(self) -> None:
        pass


def is_milvus(spec: str | None) -> bool:
    """True for ``milvus://host:port[?index=...]``, ``http(s)://`` Milvus URIs and Milvus Lite ``*.db`` paths."""
    if not spec or spec == FAISS:
        return False
    return spec.startswith(("milvus://", "http://", "https://")) or spec.split("?", 1)[0].endswith(".db")


def check_store_spec(spec: str | None) -> str:
    """Normalise a ``--store`` value: 'faiss' (default), a Milvus URI or a Milvus Lite .db path."""
    if not spec or spec == FAISS:
        return FAISS
    if not is_milvus(spec):
        raise StoreError(f"--store '{spec}' is not 'faiss', a milvus://host:port URI or a Milvus Lite file ending in .db")
    from geoseek.search.milvus_store import check_lite_file, parse_uri

    uri, _ = parse_uri(spec)  # host, port and index type
    if "://" not in uri:
        check_lite_file(uri)
    return spec
