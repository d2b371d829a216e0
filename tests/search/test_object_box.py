"""The object box of a hit on a cells index (geoseek.search.object_box), on synthetic grids, checked against a
brute-force answer written here with Python loops, and on planted cases where the right box is known."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from geoseek.index.version import LevelData
from geoseek.search.object_box import grid_shape, window_box, windows

DIM = 12
SIDE = 5  # cells per grid side, as the default model's dense grid


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def view_windows() -> list[tuple[int, int, int, int]]:
    """Source-pixel windows of one image's views: the root (0..500) and three quadrants of it."""
    return [(0, 0, 500, 500), (0, 0, 250, 250), (250, 0, 500, 250), (0, 250, 250, 500)]


def cell_boxes(window: tuple[int, int, int, int], side: int = SIDE) -> np.ndarray:
    x0, y0, x1, y1 = window
    cw, ch = (x1 - x0) / side, (y1 - y0) / side
    return np.array([(round(x0 + c * cw), round(y0 + r * ch), round(x0 + (c + 1) * cw), round(y0 + (r + 1) * ch))
                     for r in range(side) for c in range(side)], np.int32)


def level_of(vectors: np.ndarray, wins: list[tuple[int, int, int, int]], side: int = SIDE) -> LevelData:
    """One image (index 0) whose object rows are the side x side cells of each window, view after view."""
    n = len(vectors)
    boxes = np.concatenate([cell_boxes(w, side) for w in wins])
    assert len(boxes) == n
    return LevelData(index=None, vectors=vectors.astype(np.float16), image_idx=np.zeros(n, np.int32), bbox=boxes,
                     node_box=boxes.copy(), depth=np.ones(n, np.int16), bounds=np.full((n, 4), np.nan),
                     starts=np.array([0]), ends=np.array([n]))


def brute_box(level: LevelData, queries, sentence, views, row_mask=None):
    """The rule of the module, one loop per step."""
    vec = level.vectors.astype(np.float32)
    per = len(vec) // views
    allowed = np.ones(len(vec), bool) if row_mask is None else row_mask

    def full_windows(v):
        return [[v * per + (r0 + i) * SIDE + (c0 + j) for i in range(3) for j in range(3)]
                for r0, c0 in itertools.product(range(SIDE - 2), range(SIDE - 2))
                if all(allowed[v * per + (r0 + i) * SIDE + (c0 + j)] for i in range(3) for j in range(3))]

    def view_score(v):
        rows = [v * per + c for c in range(per) if allowed[v * per + c]]
        if not rows or not full_windows(v):
            return -np.inf
        return float(np.mean([max(float(vec[r] @ q) for r in rows) for q in queries]))

    scores = [view_score(v) for v in range(views)]
    if views > 1 and any(np.isfinite(s) for s in scores[1:]):
        scores[0] = -np.inf
    best = int(np.argmax(scores))
    if not np.isfinite(scores[best]):
        return None
    pick, pick_score = None, -np.inf
    for r0, c0 in itertools.product(range(SIDE - 2), range(SIDE - 2)):
        cells = [best * per + (r0 + i) * SIDE + (c0 + j) for i in range(3) for j in range(3)]
        if not all(allowed[c] for c in cells):
            continue
        m = vec[cells].mean(axis=0)
        s = float(m @ sentence / np.linalg.norm(m))
        if s > pick_score:
            pick, pick_score = cells, s
    if pick is None:
        return None
    b = level.bbox[pick]
    return int(b[:, 0].min()), int(b[:, 1].min()), int(b[:, 2].max()), int(b[:, 3].max())


def test_windows_of_a_non_square_grid_are_the_region_loss_windows():
    import torch

    from geoseek.models.training.losses import region_views

    rng = np.random.default_rng(1)
    dense = unit(rng, 4 * 6).reshape(1, 4, 6, DIM)
    want = region_views(torch.from_numpy(dense))[0].numpy()  # (V, D), training's windows in row-major order
    got = dense.reshape(24, DIM)[windows(4, 6)].mean(axis=1)
    got /= np.linalg.norm(got, axis=1, keepdims=True)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_windows_of_a_grid_are_the_region_loss_windows():
    w = windows(5, 5)
    assert w.shape == (9, 9)  # 3 x 3 windows at stride 1 on a 5 x 5 grid, as training.losses.region_views
    assert list(w[0]) == [0, 1, 2, 5, 6, 7, 10, 11, 12] and list(w[-1]) == [12, 13, 14, 17, 18, 19, 22, 23, 24]
    assert windows(1, 1).tolist() == [[0]]
    assert grid_shape(cell_boxes((0, 0, 100, 60))) == (5, 5)
    assert grid_shape(np.array([[0, 0, 10, 10], [10, 0, 20, 10], [0, 10, 10, 20]])) is None  # 3 cells, rows of 2


@pytest.mark.parametrize("seed", range(6))
def test_window_box_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    wins = view_windows()
    level = level_of(unit(rng, SIDE * SIDE * len(wins)), wins)
    queries, sentence = unit(rng, 3), unit(rng, 1)[0]
    mask = rng.random(level.size) > 0.1 if seed % 2 else None  # some cells filtered out
    got = window_box(level, 0, queries, sentence, len(wins), mask)
    assert got == brute_box(level, queries, sentence, len(wins), mask)


def test_the_box_is_the_best_window_of_the_best_non_root_view():
    rng = np.random.default_rng(7)
    wins = view_windows()
    vec = unit(rng, SIDE * SIDE * len(wins)) * 0.1
    vec /= np.linalg.norm(vec, axis=1, keepdims=True)
    target = unit(rng, 1)[0]
    # View 2 (the top-right quadrant) holds the queried thing in the window at cells rows 1-3, cols 2-4.
    cells = [50 + r * SIDE + c for r in range(1, 4) for c in range(2, 5)]
    vec[cells] = target
    vec[:SIDE * SIDE] = target  # the root matches everywhere: it must still not be the box
    level = level_of(vec, wins)
    box = window_box(level, 0, target[None], target, len(wins))
    x0, y0, x1, y1 = wins[2]
    assert box == (x0 + 2 * 50, y0 + 50, x1, y0 + 4 * 50)  # 50 px cells of a 250 px view
    area = (box[2] - box[0]) * (box[3] - box[1]) / 500 ** 2
    assert area == pytest.approx(0.09)  # (3/5)^2 of a quarter of the scene
    # A one-view image (a chip): the box is a window of the root.
    chip = level_of(vec[:SIDE * SIDE], wins[:1])
    assert window_box(chip, 0, target[None], target, 1) == (0, 0, 300, 300)


def test_filters_move_the_box_or_leave_it_to_the_best_cell():
    rng = np.random.default_rng(3)
    wins = view_windows()
    level = level_of(unit(rng, SIDE * SIDE * len(wins)), wins)
    q, s = unit(rng, 2), unit(rng, 1)[0]
    only_root = np.zeros(level.size, bool)
    only_root[:SIDE * SIDE] = True
    box = window_box(level, 0, q, s, len(wins), only_root)  # no other view allowed: the root's window
    assert box is not None and (box[2] - box[0], box[3] - box[1]) == (300, 300)
    assert window_box(level, 0, q, s, len(wins), np.zeros(level.size, bool)) is None
    sparse = np.ones(level.size, bool)
    sparse[SIDE * SIDE:] = False
    sparse[SIDE * SIDE::2] = True  # every view but the root has holes in each of its windows
    box = window_box(level, 0, q, s, len(wins), sparse)  # so the root's windows are the only ones left
    assert box == brute_box(level, q, s, len(wins), sparse) and (box[2] - box[0], box[3] - box[1]) == (300, 300)
    holes = np.ones(level.size, bool)
    holes[2::2] = False  # no view, root included, has a window of allowed cells: the engine keeps the best cell's box
    assert window_box(level, 0, q, s, len(wins), holes) is None and brute_box(level, q, s, len(wins), holes) is None
    # A filter that leaves the best-matching view a few cells but no window moves the box to another view.
    target = level.vectors[50].astype(np.float32)
    edge = np.ones(level.size, bool)
    edge[50:75] = False
    edge[50] = True  # view 2 keeps only the cell that matches the query best
    box = window_box(level, 0, target[None], target, len(wins), edge)
    assert box == brute_box(level, target[None], target, len(wins), edge)
    x0, y0, x1, y1 = box
    assert not (x0 >= 250 and y1 <= 250)  # not inside view 2, the top-right quadrant


def test_rows_that_are_not_whole_grids_give_no_window():
    rng = np.random.default_rng(0)
    wins = view_windows()
    level = level_of(unit(rng, SIDE * SIDE * len(wins)), wins)
    assert window_box(level, 0, unit(rng, 1), unit(rng, 1)[0], 3) is None  # 100 rows are not 3 views
    assert window_box(level, 0, unit(rng, 1), unit(rng, 1)[0], 0) is None
