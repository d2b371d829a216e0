"""Candidate images per level: FAISS top views, or exact search over the allowed views under filters.

Filters must not cost recall. When few views are allowed, they are scanned exactly (filter then
rank); otherwise FAISS results are over-fetched, doubling until k allowed images are found or the
whole level has been searched.
"""
from __future__ import annotations

import numpy as np

from geoseek.search.state import LevelData

BRUTE_FORCE_MAX = 50_000  # allowed views scanned exactly below this (a few ms on 2 cores at 384-d)


def _top_images_exact(level: LevelData, queries: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """The best images by their best allowed view (exact), at least 4k of them where there are."""
    sims = (level.vectors[rows].astype(np.float32) @ queries.T.astype(np.float32)).max(axis=1)
    images, inverse = np.unique(level.image_idx[rows], return_inverse=True)
    best = np.full(len(images), -np.inf, np.float32)
    np.maximum.at(best, inverse, sims)
    take = min(4 * k, len(images))
    return images[np.argpartition(-best, take - 1)[:take]] if take < len(images) else images


def candidate_images(level: LevelData, queries: np.ndarray, k: int, row_mask: np.ndarray | None) -> np.ndarray:
    """Image indices (unique) holding the best views of this level for any of ``queries`` (m, D)."""
    n = level.size
    if n == 0:
        return np.zeros(0, np.int64)
    q = np.ascontiguousarray(queries, dtype=np.float32)
    if row_mask is not None:
        allowed = np.flatnonzero(row_mask)
        if len(allowed) == 0:
            return np.zeros(0, np.int64)
        if len(allowed) <= BRUTE_FORCE_MAX:
            return np.unique(_top_images_exact(level, q, allowed, k))
    # Several views per image: ask for enough rows to cover k images the first time (a flat scan
    # costs the same for 40 or 400 results, a second scan doubles the cost).
    per_image = -(-n // max(1, int((level.ends > level.starts).sum())))
    fetch = min(n, 4 * k * per_image)
    while True:
        _, ids = level.index.search(q, fetch)
        rows = ids[ids >= 0]
        if row_mask is not None:
            rows = rows[row_mask[rows]]
        images = np.unique(level.image_idx[rows])
        if len(images) >= k or fetch >= n:
            return images
        fetch = min(n, fetch * 4)
