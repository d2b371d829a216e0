"""The object box of a hit on an index of dense-grid cells: a region window of the view that best matches the query.

Images are ranked by the late interaction over all their cells (``fusion.rescore_level``); a single best
cell is a poor answer to "where" (on NWPU VHR-10 a cell is about 1.4% of the scene and holds an object of
the queried class in 20% of hits). The box of a returned hit is chosen in two steps, each what training
aligns:

1. **the view**: each encoded view's own late interaction with the query (mean over query vectors of each
   one's best cell in that view: the object loss's FILIP score of one training image). When the image has
   region views, its root view is left out (unless the filters leave no other), since a window of it
   spans a third of the scene;
2. **the window**: of that view's k x k windows of cells (k = ``window_side`` of the grid side, the region
   loss's multiple-instance windows), the one whose normalised mean cell vector best matches the query's
   global vector (a text's sentence vector; an image query's global view).

Cells the request's filters leave out count for neither step, and only views with a window of allowed cells
compete; when no view has one the caller keeps the best cell's box. The rule was chosen on half of NWPU VHR-10's scenes and checked on the other half
(``benchmarks/box_rules.py``).
"""
from __future__ import annotations

import numpy as np

from geoseek.index.columns import read_rows
from geoseek.index.version import LevelData
from geoseek.models.dense import window_side

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 source pixels


def grid_shape(bbox: np.ndarray) -> tuple[int, int] | None:
    """(rows, cols) of one view's cells from their boxes (cells row-major, (n, 4) xyxy); None when they do not
    lay out as a full grid."""
    n = len(bbox)
    if n == 0:
        return None
    cols = int(np.sum(bbox[:, 1] == bbox[0, 1]))
    if cols == 0 or n % cols:
        return None
    return n // cols, cols


def windows(rows: int, cols: int, side: tuple[int, int] | None = None) -> np.ndarray:
    """(W, k_r * k_c) cell indices (row-major within the view) of every k_r x k_c window of a rows x cols grid,
    at stride 1; ``side`` (k_r, k_c), default the region loss's (``window_side`` of each grid side)."""
    kr, kc = side or (window_side(rows), window_side(cols))
    grid = np.arange(rows * cols).reshape(rows, cols)
    return np.stack([grid[r:r + kr, c:c + kc].ravel() for r in range(rows - kr + 1) for c in range(cols - kc + 1)])


def window_box(level: LevelData, image: int, queries: np.ndarray, sentence: np.ndarray, views: int,
               row_mask: np.ndarray | None = None) -> Box | None:
    """The object box of ``image`` (see the module docstring), or None when its cells do not form ``views``
    grids or no window is allowed.

    queries (m, D) float32: the late-interaction query vectors (a text's content tokens, an image's cells);
    sentence (D,) float32: the query's global vector; views: the image's encoded views (global + region);
    row_mask (rows,) bool: the views the request's filters allow, None = all.
    """
    start, end = int(level.starts[image]), int(level.ends[image])
    n = end - start
    if views < 1 or n == 0 or n % views:
        return None
    per_view = n // views
    bbox = level.bbox[start:end]
    shape = grid_shape(bbox[:per_view])
    if shape is None or shape[0] * shape[1] != per_view:
        return None
    cells = read_rows(level.vectors, np.arange(start, end)).astype(np.float32).reshape(views, per_view, -1)
    allowed = np.ones((views, per_view), bool) if row_mask is None else row_mask[start:end].reshape(views, per_view)
    win = windows(*shape)
    whole = allowed[:, win].all(axis=2)  # (views, windows): windows whose every cell the filters allow
    sims = np.where(allowed[..., None], cells @ queries.T, -np.inf)  # (views, cells, m)
    view_score = sims.max(axis=1).mean(axis=1)  # FILIP per view over its allowed cells
    view_score[~whole.any(axis=1)] = -np.inf  # a view without an allowed window cannot give the box
    if views > 1 and np.isfinite(view_score[1:]).any():
        view_score[0] = -np.inf  # the root: its windows span a third of the scene
    best = int(np.argmax(view_score))
    if not np.isfinite(view_score[best]):
        return None
    pooled = cells[best][win].mean(axis=1)
    pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
    pick = int(np.argmax(np.where(whole[best], pooled @ sentence, -np.inf)))
    return cells_box(bbox[best * per_view + win[pick]])


def cells_box(bbox: np.ndarray) -> Box:
    """The box (x0, y0, x1, y1) that (n, 4) xyxy cell boxes cover together."""
    return int(bbox[:, 0].min()), int(bbox[:, 1].min()), int(bbox[:, 2].max()), int(bbox[:, 3].max())
