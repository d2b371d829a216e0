"""DRIS view planning: a per-image quadtree refined coarse-to-fine where content is complex.

A node is split into 2x2 children only when all hold:
  (a) it has more pixels than the encoder input (resizing it to S x S loses detail);
  (b) it contains complex content: the image is divided once into S x S source-pixel cells
      and a cell is complex when its mean gradient magnitude (grey levels 0..1 per pixel of a
      thumbnail) is above a threshold; flat water, fields and desert have no complex cells;
  (c) the image's view budget, a fraction of the uniform native-resolution tile count, is not spent.
Nodes are refined best-first by their complex area, so when the budget runs out it has gone to
the busiest parts of the scene. Views never upsample beyond native resolution: a node smaller
than the encoder input on a side is encoded from a window grown to S on that side (clipped to
the image), so the encoder sees real pixels, not interpolated ones.

Masks (nodata, alpha, internal masks; ``valid`` at thumbnail resolution): a region view whose box has no
valid pixel is not created, and complexity is measured on valid pixels only (gradients touching a masked
pixel are dropped, so the edge of the data footprint is not "detail", and a cell's mean is over its valid pixels).
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np

from geoseek.schemas import DRISParams

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class ViewNode:
    """One planned view. ``box`` is the quadtree node; ``window`` is what the encoder sees."""

    index: int
    parent: int  # -1 for the root
    depth: int
    box: Box
    window: Box
    complexity: float  # fraction of the node's area in complex cells, 0..1


def _sat(a: np.ndarray) -> np.ndarray:
    """Summed-area table of ``a`` (float64, a zero row and column in front), built in place: a 2,000 px
    thumbnail's table is 32 MB, and converting, summing twice and padding would hold four of them."""
    out = np.zeros((a.shape[0] + 1, a.shape[1] + 1), np.float64)
    body = out[1:, 1:]
    np.cumsum(a, axis=0, dtype=np.float64, out=body)
    np.cumsum(body, axis=1, out=body)
    return out


def _pad2(a: np.ndarray) -> np.ndarray:
    """np.gradient needs two samples per axis: edge-pad a 1-px strip (it has no detail to find)."""
    if min(a.shape[:2]) >= 2:
        return a
    return np.pad(a, ((0, max(0, 2 - a.shape[0])), (0, max(0, 2 - a.shape[1]))), mode="edge")


class _BoxSum:
    """O(1) sum of a thumbnail-resolution array over a source-pixel box."""

    def __init__(self, a: np.ndarray, width: int, height: int) -> None:
        self._sat = _sat(a)
        self._sx, self._sy = a.shape[1] / width, a.shape[0] / height

    def sum(self, box: Box) -> tuple[float, int]:
        """(sum inside ``box``, thumbnail pixels it covers), at least one pixel."""
        h, w = self._sat.shape[0] - 1, self._sat.shape[1] - 1
        x0 = min(w - 1, int(box[0] * self._sx))
        y0 = min(h - 1, int(box[1] * self._sy))
        x1 = max(x0 + 1, min(w, math.ceil(box[2] * self._sx)))
        y1 = max(y0 + 1, min(h, math.ceil(box[3] * self._sy)))
        s = self._sat
        return float(s[y1, x1] - s[y0, x1] - s[y1, x0] + s[y0, x0]), (x1 - x0) * (y1 - y0)


class ValidMap:
    """Whether a source-pixel box holds any valid (unmasked) pixel; ``valid``: (h, w) bool at thumbnail resolution."""

    def __init__(self, valid: np.ndarray, width: int, height: int) -> None:
        self._sum = _BoxSum(_pad2(valid), width, height)

    def any(self, box: Box) -> bool:
        return self._sum.sum(box)[0] > 0


class GradientMap:
    """O(1) mean gradient magnitude over any source-pixel box, via a summed-area table.

    ``valid``: optional (h, w) bool mask of the thumbnail; gradients touching a masked pixel are dropped
    and means are over valid pixels only.
    """

    def __init__(self, thumb: np.ndarray, width: int, height: int, valid: np.ndarray | None = None) -> None:
        if thumb.ndim == 3:  # the channel mean in float32 as .mean(axis=2) sums it, without a float copy of all three
            grey = (thumb[..., 0].astype(np.float32) + thumb[..., 1] + thumb[..., 2]) / np.float32(3) / 255.0
        else:
            grey = thumb.astype(np.float32) / 255.0
        gy, gx = np.gradient(_pad2(grey))
        del grey
        mag = np.hypot(gx, gy)
        del gx, gy
        self._valid = None
        if valid is not None:
            v = _pad2(valid.astype(bool))
            inner = v.copy()  # a pixel whose 4-neighbours are valid too: its central difference saw only data
            inner[1:] &= v[:-1]
            inner[:-1] &= v[1:]
            inner[:, 1:] &= v[:, :-1]
            inner[:, :-1] &= v[:, 1:]
            mag = mag * inner
            self._valid = _BoxSum(inner, width, height)
        self._mag = _BoxSum(mag, width, height)

    def mean(self, box: Box) -> float:
        """Mean gradient magnitude inside ``box`` (source pixel coordinates), over its valid pixels."""
        total, n = self._mag.sum(box)
        if self._valid is not None:
            n = self._valid.sum(box)[0]
            if n <= 0:
                return 0.0
        return float(total / n)


class ComplexCells:
    """Which S x S source-pixel cells are complex; O(1) complex fraction of any box."""

    def __init__(self, thumb: np.ndarray, width: int, height: int, side: int, threshold: float,
                 valid: np.ndarray | None = None) -> None:
        grad = GradientMap(thumb, width, height, valid)
        self.side = side
        self.cols, self.rows = math.ceil(width / side), math.ceil(height / side)
        self.levels = np.array(
            [[grad.mean((c * side, r * side, min(width, (c + 1) * side), min(height, (r + 1) * side)))
              for c in range(self.cols)] for r in range(self.rows)],
            dtype=np.float64,
        )
        self.mask = self.levels > threshold
        self._sat = np.pad(self.mask.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
        # Cell centres, the last (partial) cell's clipped to the image.
        self._cx = (np.arange(self.cols) * side + np.minimum((np.arange(self.cols) + 1) * side, width)) / 2
        self._cy = (np.arange(self.rows) * side + np.minimum((np.arange(self.rows) + 1) * side, height)) / 2

    def fraction(self, box: Box) -> float:
        """Fraction of the cells whose centre lies in ``box`` that are complex (0 if none)."""
        c0, c1 = np.searchsorted(self._cx, box[0]), np.searchsorted(self._cx, box[2])
        r0, r1 = np.searchsorted(self._cy, box[1]), np.searchsorted(self._cy, box[3])
        if c0 >= c1 or r0 >= r1:
            return 0.0
        t = self._sat
        return float(t[r1, c1] - t[r0, c1] - t[r1, c0] + t[r0, c0]) / ((c1 - c0) * (r1 - r0))


def encode_window(box: Box, side: int, width: int, height: int) -> Box:
    """Grow ``box`` to at least ``side`` px per axis (centred, clipped) so leaves are never upsampled."""
    x0, y0, x1, y1 = box

    def grow(a: int, b: int, limit: int) -> tuple[int, int]:
        need = min(side, limit) - (b - a)
        if need <= 0:
            return a, b
        a = max(0, a - need // 2)
        b = min(limit, a + max(b - a, min(side, limit)))
        return max(0, b - min(side, limit)) if b - a < min(side, limit) else a, b

    nx0, nx1 = grow(x0, x1, width)
    ny0, ny1 = grow(y0, y1, height)
    return (nx0, ny0, nx1, ny1)


def thumbnail_side(width: int, height: int, side: int, params: DRISParams) -> int:
    """Long side of the thumbnail to measure complexity on: ``cell_px`` pixels per encoder-sized cell.

    A fixed scale relative to the encoder input makes the threshold mean the same thing for a
    600 px chip and a 30,000 px scene (gradients grow as an image is shown closer to native).
    """
    return max(8, min(params.thumbnail_side, math.ceil(max(width, height) * params.cell_px / side)))


def uniform_tile_count(width: int, height: int, side: int) -> int:
    """Tiles of a uniform native-resolution grid with encoder input ``side``."""
    return math.ceil(width / side) * math.ceil(height / side)


def view_budget(width: int, height: int, side: int, params: DRISParams) -> int:
    """Most views (encoder calls) DRIS may spend on one image, growing with its area."""
    return max(params.min_budget, math.ceil(params.budget_per_tile * uniform_tile_count(width, height, side)))


def _split(box: Box) -> list[Box]:
    x0, y0, x1, y1 = box
    mx, my = (x0 + x1) // 2, (y0 + y1) // 2
    return [(x0, y0, mx, my), (mx, y0, x1, my), (x0, my, mx, y1), (mx, my, x1, y1)]


def plan_uniform(width: int, height: int, side: int, valid: np.ndarray | None = None) -> list[ViewNode]:
    """The baseline: the global view plus a uniform grid of native-resolution S x S tiles (fully masked ones left out)."""
    vmap = ValidMap(valid, width, height) if valid is not None else None
    root = (0, 0, width, height)
    nodes = [ViewNode(0, -1, 0, root, root, 0.0)]
    if width * height <= side * side:
        return nodes
    for ty in range(math.ceil(height / side)):
        for tx in range(math.ceil(width / side)):
            box = (tx * side, ty * side, min(width, (tx + 1) * side), min(height, (ty + 1) * side))
            if vmap is not None and not vmap.any(box):
                continue
            nodes.append(ViewNode(len(nodes), 0, 1, box, encode_window(box, side, width, height), 0.0))
    return nodes


def plan_views(width: int, height: int, side: int, thumb: np.ndarray, params: DRISParams,
               valid: np.ndarray | None = None) -> list[ViewNode]:
    """Plan an image's views: index 0 is the global view, the rest are region views (DRIS quadtree).

    thumb: (h, w[, 3]) uint8 of the whole image; valid: optional (h, w) bool, False where masked (no views there).
    """
    if params.uniform:
        return plan_uniform(width, height, side, valid)
    cells = ComplexCells(thumb, width, height, side, params.complexity_threshold, valid)
    vmap = ValidMap(valid, width, height) if valid is not None else None

    def area(node: ViewNode) -> float:  # complex area in cells: the refinement priority
        x0, y0, x1, y1 = node.box
        return node.complexity * (x1 - x0) * (y1 - y0) / (side * side)

    root_box = (0, 0, width, height)
    nodes = [ViewNode(0, -1, 0, root_box, root_box, cells.fraction(root_box))]
    budget = view_budget(width, height, side, params)
    heap: list[tuple[float, int]] = [(-area(nodes[0]), 0)]
    while heap and len(nodes) + 4 <= budget:
        _, idx = heapq.heappop(heap)
        node = nodes[idx]
        x0, y0, x1, y1 = node.box
        too_small = (x1 - x0) * (y1 - y0) <= side * side or min(x1 - x0, y1 - y0) < 2
        if too_small or node.complexity <= 0.0 or node.depth >= params.max_depth:
            continue
        for child in _split(node.box):
            if vmap is not None and not vmap.any(child):
                continue
            c = ViewNode(len(nodes), idx, node.depth + 1, child, encode_window(child, side, width, height), cells.fraction(child))
            nodes.append(c)
            heapq.heappush(heap, (-area(c), c.index))
    return nodes
