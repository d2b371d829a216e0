"""One index version loaded for search: the version's plain data (``geoseek.index.version``) plus
where its nearest-neighbour search runs (a vector store) and, when FAISS sees a GPU, GPU copies."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from geoseek.index.version import VersionData, read_version
from geoseek.search.gpu import gpu_copy
from geoseek.search.stores import check_store_spec, is_milvus, open_store
from geoseek.search.vector_store import VectorStore


@dataclass
class IndexState(VersionData):
    """A version as search sees it; ``store`` None means the version's own FAISS indices."""

    store: VectorStore | None = None

    @property
    def vector_store(self) -> VectorStore:
        """The store that answers nearest-neighbour queries for this version."""
        return self.store if self.store is not None else open_store(None, self)

    @classmethod
    def load(cls, root: Path, catalog_url: str | None = None, store: str | None = None, gpu: bool = True) -> "IndexState":
        """Load the current version; ``store``: 'faiss' (default), a Milvus URI or a Milvus Lite .db path;
        ``gpu``: copy the FAISS level indices to the GPU when FAISS sees one."""
        spec = check_store_spec(store)
        milvus = is_milvus(spec)
        data = read_version(Path(root), catalog_url, faiss_indices=not milvus)
        if gpu and not milvus:
            for level in data.levels.values():
                level.gpu_index = gpu_copy(level.index, level.vectors)
        state = cls(**{f: getattr(data, f) for f in ("version", "manifest", "images", "levels", "text")})
        if milvus:
            state.store = open_store(spec, state)
        return state
