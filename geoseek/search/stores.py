"""Choosing a vector store from a ``--store`` value: 'faiss' (default), a Milvus URI or a Milvus Lite .db path."""
from __future__ import annotations

from geoseek.index.version import VersionData
from geoseek.search.faiss_store import FaissStore
from geoseek.search.vector_store import FAISS, StoreError, VectorStore


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


def open_store(spec: str | None, data: VersionData) -> VectorStore:
    """The vector store that searches ``data``: its FAISS indices, or Milvus collections filled from it."""
    spec = check_store_spec(spec)
    if not is_milvus(spec):
        return FaissStore(data)
    from geoseek.search.milvus_store import (
        MilvusStore,  # pymilvus loads only when Milvus is asked for
    )

    return MilvusStore.open(spec, data)
