"""Candidate images per level from the FAISS indices: for each query vector, the top n images by
their best allowed view (every vector store answers this same question; see vector_store).

Filters must not cost recall. When few views are allowed, they are scanned exactly (filter then
rank); otherwise FAISS results are over-fetched, growing until every query has n allowed images,
and a filter whose views rank too deep for that falls back to the exact scan (chunked).
"""
from __future__ import annotations

import numpy as np

from geoseek.index.version import LevelData
from geoseek.search.gpu import search as index_search

BRUTE_FORCE_MAX = 50_000  # allowed views scanned exactly below this (a few ms on 2 cores at 384-d)
FETCH_MAX = 1_000_000  # a filtered search that would over-fetch more rows than this scans the allowed views exactly
EXACT_CHUNK = 65_536  # rows scored at once by the exact path
CANDIDATES_PER_K = 4  # images fetched per level and query for each result asked for; exact rescoring ranks them


def _top_images_exact(level: LevelData, queries: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """Union over queries of the n best images by their best view among ``rows`` (exact)."""
    images, inverse = np.unique(level.image_idx[rows], return_inverse=True)
    best = np.full((len(images), queries.shape[0]), -np.inf, np.float32)
    for start in range(0, len(rows), EXACT_CHUNK):  # bounded memory however many rows are allowed
        part = slice(start, start + EXACT_CHUNK)
        np.maximum.at(best, inverse[part], level.vectors[rows[part]].astype(np.float32) @ queries.T)
    if n >= len(images):
        return images.astype(np.int64)
    return np.unique(images[np.argpartition(-best, n - 1, axis=0)[:n]]).astype(np.int64)


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
    fetch = min(size, n * per_image)
    while True:
        _, ids, gpu_ok = index_search(level.index, level.gpu_index, q, fetch)
        if not gpu_ok:
            level.gpu_index = None
        found = [_first_images(row, level.image_idx, row_mask, n) for row in ids]
        if fetch >= size or all(len(f) >= n for f in found):
            return np.unique(np.concatenate(found)).astype(np.int64)
        if row_mask is not None and fetch * 4 > FETCH_MAX:
            # The allowed views rank too deep for over-fetching to pay: rank them exactly instead.
            return _top_images_exact(level, q, allowed, n)
        fetch = min(size, fetch * 4)
