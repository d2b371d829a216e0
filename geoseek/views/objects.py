"""Object views from dense patch embeddings: no extra encoder passes.

``cells`` (the default of new indexes): every cell of the view's h x w grid is an object view,
its box the cell's share of the view window. These are exactly what the MS-VLAM object loss
aligns with caption tokens (FILIP), and search scores them the same way (token-wise late
interaction, ``geoseek.search.fusion``).

``segments`` (older indexes): each encoded view's patch grid (h, w, D) is clustered by spherical k-means; every connected
component of a cluster is a candidate segment with a box (the patch cells it covers, mapped to
source pixels) and a vector (the normalised mean of its patches). Segments that cover the whole
view, or fewer than ``min_patches`` cells, are dropped; the rest are ranked by saliency -- how
unlike the view's pooled vector they are -- and the top ``per_view`` are kept.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from geoseek.schemas import ObjectParams

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class ObjectView:
    box: Box  # source pixels
    vector: np.ndarray  # (D,) float32, L2-normalised
    saliency: float  # 1 - cos(segment, pooled view vector)
    patches: int


def _normalise(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def spherical_kmeans(x: np.ndarray, k: int, iters: int = 10, merge_cos: float = 1.0) -> np.ndarray:
    """Deterministic spherical k-means of unit rows ``x`` (n, D); returns labels (n,).

    Clusters whose centroids have cosine similarity above ``merge_cos`` are merged afterwards,
    so a fixed k does not cut one homogeneous region into pieces.
    """
    n = x.shape[0]
    k = min(k, n)
    # Farthest-point initialisation from the mean direction: deterministic, spreads the seeds.
    centres = [int(np.argmin(x @ _normalise(x.mean(0))))]
    sim = x @ x[centres[0]]
    for _ in range(1, k):
        centres.append(int(np.argmin(sim)))
        sim = np.maximum(sim, x @ x[centres[-1]])
    c = x[centres].copy()
    labels = np.zeros(n, dtype=np.int64)
    for _ in range(iters):
        new = np.argmax(x @ c.T, axis=1)
        if _ and np.array_equal(new, labels):
            break
        labels = new
        for j in range(k):
            members = x[labels == j]
            if len(members):
                c[j] = _normalise(members.sum(0))
    # Union clusters with near-identical centroids (greedy, in index order: deterministic).
    target = list(range(k))
    for a in range(k):
        for b in range(a + 1, k):
            if target[b] == b and float(c[a] @ c[b]) > merge_cos:
                target[b] = target[a]
    return np.asarray(target)[labels]


def object_views(dense: np.ndarray, pooled: np.ndarray, window: Box, params: ObjectParams) -> list[ObjectView]:
    """Salient segments of one view. ``dense`` (h, w, D) unit cells, ``pooled`` (D,) unit, ``window`` in source px."""
    h, w, d = dense.shape
    if params.per_view == 0 or h * w < 2 * params.min_patches:
        return []
    flat = dense.reshape(-1, d).astype(np.float32)
    labels = spherical_kmeans(flat, params.clusters, merge_cos=params.merge_cos).reshape(h, w)
    x0, y0, x1, y1 = window
    cw, ch = (x1 - x0) / w, (y1 - y0) / h
    found: list[ObjectView] = []
    for lab in np.unique(labels):
        comps, n = ndimage.label(labels == lab)
        for ci in range(1, n + 1):
            cells = comps == ci
            count = int(cells.sum())
            if count < params.min_patches or count == h * w:
                continue
            rows, cols = np.nonzero(cells)
            vec = _normalise(dense[cells].mean(0)).astype(np.float32)
            box = (
                int(round(x0 + cols.min() * cw)), int(round(y0 + rows.min() * ch)),
                int(round(x0 + (cols.max() + 1) * cw)), int(round(y0 + (rows.max() + 1) * ch)),
            )
            found.append(ObjectView(box, vec, float(1.0 - vec @ pooled), count))
    found.sort(key=lambda o: (-o.saliency, o.box))
    return found[: params.per_view]


def cell_views(dense: np.ndarray, pooled: np.ndarray, window: Box) -> list[ObjectView]:
    """Every cell of one view's grid, row-major. ``dense`` (h, w, D) unit cells, ``pooled`` (D,) unit, ``window`` source px."""
    h, w, d = dense.shape
    x0, y0, x1, y1 = window
    cw, ch = (x1 - x0) / w, (y1 - y0) / h
    flat = dense.reshape(-1, d).astype(np.float32)
    saliency = 1.0 - flat @ pooled.astype(np.float32)
    return [ObjectView((int(round(x0 + c * cw)), int(round(y0 + r * ch)), int(round(x0 + (c + 1) * cw)),
                        int(round(y0 + (r + 1) * ch))), flat[r * w + c], float(saliency[r * w + c]), 1)
            for r in range(h) for c in range(w)]


def views_of_grid(dense: np.ndarray, pooled: np.ndarray, window: Box, params: ObjectParams) -> list[ObjectView]:
    """The object views of one encoded view, of the kind ``params.views`` names."""
    if params.views == "cells":
        return cell_views(dense, pooled, window)
    return object_views(dense, pooled, window, params)
