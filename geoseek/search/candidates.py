"""Candidate images per level from the FAISS indices: for each query vector, the top n images by
their best allowed view (every vector store answers this same question; see vector_store).

An index that ranks by compressed codes (IVF-PQ) has its rows re-ranked by their exact float16 vectors
before images are picked (FAISS's IndexRefine, over the version's memory-mapped columns), optionally after
fetching REFINE_FACTOR times the rows. At 10M views it moved fused top-10 agreement 0.9975 -> 0.998 (4x the
rows: no further gain, 1.6 ms more; benchmarks/results/scale_10m_tune.json).

Filters must not cost recall. When few views are allowed, they are scanned exactly (filter then
rank); otherwise FAISS results are over-fetched, growing until every query has n allowed images,
and a filter whose views rank too deep for that falls back to the exact scan (chunked).
"""
from __future__ import annotations

import faiss
import numpy as np

from geoseek.index.columns import read_rows
from geoseek.index.version import LevelData
from geoseek.search.gpu import search as index_search

BRUTE_FORCE_MAX = 50_000  # allowed views scanned exactly below this (a few ms on 2 cores at 384-d)
FETCH_MAX = 1_000_000  # a filtered search that would over-fetch more rows than this scans the allowed views exactly
EXACT_CHUNK = 65_536  # rows scored at once by the exact path
CANDIDATES_PER_K = 4  # images fetched per level and query for each result asked for; exact rescoring ranks them
REFINE_FACTOR = 1  # rows a PQ index is asked for per row needed; 4 gained nothing over 1 (results/scale_10m_tune.json)


LATE_SEARCH_VECTORS = 8  # query vectors of a late-interaction level that search its index for candidates


def late_search_queries(queries: np.ndarray, n: int) -> tuple[np.ndarray, int]:
    """Which of a late-interaction level's (m, D) query vectors search for candidates, and how many images each.

    A late score is a mean over all m query vectors, so one vector's top images are only a hint of the top
    images by the mean: the level's budget of n images is shared among at most LATE_SEARCH_VECTORS of them,
    evenly spread over the m (a text's content tokens; an image query's cells, 25 per view), instead of n
    images for each. Every candidate is then rescored exactly with all m. Returns ((m', D), images per vector)."""
    m = len(queries)
    if m == 0:
        return queries, n
    pick = np.unique(np.linspace(0, m - 1, min(m, LATE_SEARCH_VECTORS)).round().astype(np.int64))
    return queries[pick], max(1, -(-n // len(pick)))


def _top_images_exact(level: LevelData, queries: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """Union over queries of the n best images by their best view among ``rows`` (exact)."""
    images, inverse = np.unique(level.image_idx[rows], return_inverse=True)
    best = np.full((len(images), queries.shape[0]), -np.inf, np.float32)
    for start in range(0, len(rows), EXACT_CHUNK):  # bounded memory however many rows are allowed
        part = slice(start, start + EXACT_CHUNK)
        np.maximum.at(best, inverse[part], read_rows(level.vectors, rows[part]) @ queries.T)
    if n >= len(images):
        return images.astype(np.int64)
    return np.unique(images[np.argpartition(-best, n - 1, axis=0)[:n]]).astype(np.int64)


def approximate_scores(index: object) -> bool:
    """True when ``index`` scores by lossy codes (product quantisation), whose ranking needs exact re-ranking;
    flat float16 and HNSW indices score the stored vectors themselves."""
    return isinstance(index, faiss.IndexIVFPQ)


def exact_order(vectors: np.ndarray, queries: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """``ids`` (m, f) rows per query (-1 = padding) re-ordered per query by exact inner product with
    ``queries`` (m, D), using ``vectors`` (n, D) float16 (read with ``columns.read_rows``)."""
    valid = ids >= 0
    sims = np.full(ids.shape, -np.inf, np.float32)
    # Each valid row against its own query (read_rows reads each distinct row once).
    sims[valid] = np.einsum("ij,ij->i", read_rows(vectors, ids[valid]), queries[np.nonzero(valid)[0]])
    order = np.argsort(-sims, axis=1, kind="stable")
    return np.take_along_axis(np.where(valid, ids, -1), order, axis=1)


def _first_images(ranked_rows: np.ndarray, image_idx: np.ndarray, row_mask: np.ndarray | None, n: int) -> np.ndarray:
    """The first n distinct images, in rank order, among ranked rows (-1 = padding) that the mask allows."""
    rows = ranked_rows[ranked_rows >= 0]
    if row_mask is not None:
        rows = rows[row_mask[rows]]
    images = image_idx[rows]
    _, first = np.unique(images, return_index=True)
    return images[np.sort(first)][:n]


def candidate_images(level: LevelData, queries: np.ndarray, n: int, row_mask: np.ndarray | None) -> np.ndarray:
    """Image indices (unique): for each of ``queries`` (m, D), the n images whose best allowed view
    scores highest (exact on a flat index); ``row_mask`` (rows,) bool allows views, None = all."""
    size = level.size
    if size == 0:
        return np.zeros(0, np.int64)
    q = np.ascontiguousarray(queries, dtype=np.float32)
    with_views = level.with_views
    if row_mask is None:
        if len(with_views) <= n:  # every image is a candidate: no search needed
            return with_views.astype(np.int64)
    else:
        allowed = np.flatnonzero(row_mask)
        if len(allowed) <= BRUTE_FORCE_MAX:
            return _top_images_exact(level, q, allowed, n) if len(allowed) else np.zeros(0, np.int64)
        allowed_images = np.unique(level.image_idx[allowed])
        if len(allowed_images) <= n:
            return allowed_images.astype(np.int64)
    # From here more than n images are allowed, so every query can find n of them.
    # Several views per image: ask for enough rows to cover n images the first time (a flat scan
    # costs the same for 40 or 400 results, a second scan doubles the cost).
    per_image = -(-size // max(1, len(with_views)))
    refine = approximate_scores(level.index)
    fetch = min(size, n * per_image * (REFINE_FACTOR if refine else 1))
    while True:
        _, ids, gpu_ok = index_search(level.index, level.gpu_index, q, fetch)
        if not gpu_ok:
            level.gpu_index = None
        if refine:
            ids = exact_order(level.vectors, q, ids)
        found = [_first_images(row, level.image_idx, row_mask, n) for row in ids]
        if fetch >= size or all(len(f) >= n for f in found):
            return np.unique(np.concatenate(found)).astype(np.int64)
        if row_mask is not None and fetch * 4 > FETCH_MAX:
            # The allowed views rank too deep for over-fetching to pay: rank them exactly instead.
            return _top_images_exact(level, q, allowed, n)
        fetch = min(size, fetch * 4)
