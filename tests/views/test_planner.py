import json

import numpy as np
import pytest
from PIL import Image

from geoseek.schemas import DRISParams
from geoseek.views.planner import (
    ComplexCells,
    encode_window,
    plan_uniform,
    plan_views,
    thumbnail_side,
    uniform_tile_count,
    view_budget,
)
from tests.conftest import JOPLIN, RSICD

S = 160


def test_small_chip_gets_one_view():
    thumb = np.asarray(Image.open(RSICD / "images" / "Airport" / "airport_1.jpg").convert("RGB"))
    nodes = plan_views(150, 150, S, thumb, DRISParams())
    assert len(nodes) == 1 and nodes[0].box == (0, 0, 150, 150)


def test_flat_scene_is_not_refined_and_busy_quadrant_is():
    flat = np.full((512, 512, 3), 90, np.uint8)
    assert len(plan_views(2048, 2048, S, flat, DRISParams())) == 1
    busy = flat.copy()
    rng = np.random.default_rng(0)
    busy[256:, 256:] = rng.integers(0, 255, size=(256, 256, 3))  # bottom-right quadrant only
    nodes = plan_views(2048, 2048, S, busy, DRISParams(budget_per_tile=4))
    leaves = [n for n in nodes if not any(c.parent == n.index for c in nodes)]
    assert len(nodes) > 5
    assert all(n.box[0] >= 1024 and n.box[1] >= 1024 for n in leaves if n.depth > 1)


def test_budget_and_native_resolution_are_respected():
    rng = np.random.default_rng(1)
    noisy = rng.integers(0, 255, size=(700, 1000, 3)).astype(np.uint8)
    for budget in (0.2, 0.5, 1.0):
        p = DRISParams(budget_per_tile=budget)
        nodes = plan_views(3000, 2100, S, noisy, p)
        assert len(nodes) <= view_budget(3000, 2100, S, p)
        for n in nodes:
            x0, y0, x1, y1 = n.window
            assert 0 <= x0 < x1 <= 3000 and 0 <= y0 < y1 <= 2100
            assert x1 - x0 >= S and y1 - y0 >= S  # never upsampled to the encoder input
            bx0, by0, bx1, by1 = n.box
            assert x0 <= bx0 and y0 <= by0 and bx1 <= x1 and by1 <= y1
        children = [n for n in nodes if n.parent >= 0]
        assert all(nodes[c.parent].depth == c.depth - 1 for c in children)


def test_encode_window_grows_and_clips():
    assert encode_window((0, 0, 96, 64), 160, 3072, 2048) == (0, 0, 160, 160)
    assert encode_window((3000, 2000, 3072, 2048), 160, 3072, 2048) == (2912, 1888, 3072, 2048)
    assert encode_window((10, 10, 400, 300), 160, 3072, 2048) == (10, 10, 400, 300)
    assert encode_window((0, 0, 50, 50), 160, 100, 80) == (0, 0, 100, 80)


def test_uniform_baseline_counts():
    nodes = plan_uniform(3072, 2048, S)
    assert len(nodes) == 1 + uniform_tile_count(3072, 2048, S) == 1 + 20 * 13
    assert plan_uniform(150, 150, S) == plan_uniform(150, 150, S)[:1]


def test_joplin_dris_spends_half_the_calls_of_uniform_tiling_mostly_on_buildings():
    scene = Image.open(JOPLIN / "post_mosaic_3072x2048.jpg").convert("RGB")
    w, h = scene.size
    p = DRISParams()
    thumb = scene.copy()
    side = thumbnail_side(w, h, S, p)
    assert side == -(-3072 * p.cell_px // S)  # cell_px thumbnail pixels per encoder-sized cell
    thumb.thumbnail((side, side))
    nodes = plan_views(w, h, S, np.asarray(thumb), p)
    uniform = len(plan_uniform(w, h, S))
    assert len(nodes) <= uniform / 2
    # Leaves sit where buildings are: their building density beats the scene average.
    boxes = json.loads((JOPLIN / "post_mosaic_building_boxes.json").read_text())["boxes"]
    centres = np.array([((b["bbox_xyxy"][0] + b["bbox_xyxy"][2]) / 2, (b["bbox_xyxy"][1] + b["bbox_xyxy"][3]) / 2) for b in boxes])

    def density(box):
        x0, y0, x1, y1 = box
        inside = ((centres[:, 0] >= x0) & (centres[:, 0] < x1) & (centres[:, 1] >= y0) & (centres[:, 1] < y1)).sum()
        return inside / ((x1 - x0) * (y1 - y0))

    deepest = max(n.depth for n in nodes)
    leaf_density = np.mean([density(n.box) for n in nodes if n.depth == deepest])
    assert leaf_density > 1.3 * density((0, 0, w, h))


def test_complex_cells_fraction():
    img = np.zeros((320, 320, 3), np.uint8)
    img[:160, :160] = np.random.default_rng(0).integers(0, 255, size=(160, 160, 3))
    cells = ComplexCells(img, 320, 320, 160, 0.04)
    assert cells.mask.tolist() == [[True, False], [False, False]]
    assert cells.fraction((0, 0, 320, 320)) == pytest.approx(0.25)
    assert cells.fraction((0, 0, 160, 160)) == 1.0
    assert cells.fraction((160, 160, 320, 320)) == 0.0
