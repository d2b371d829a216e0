import numpy as np
import pytest

from geoseek.schemas import ObjectParams
from geoseek.views.objects import object_views, spherical_kmeans


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_distinct_block_becomes_an_object_with_its_box():
    rng = np.random.default_rng(0)
    background, thing = _unit(rng.normal(size=16)), _unit(rng.normal(size=16))
    grid = np.tile(background, (6, 6, 1)) + 0.05 * rng.normal(size=(6, 6, 16))
    grid[1:3, 3:5] = thing + 0.05 * rng.normal(size=(2, 2, 16))
    grid = _unit(grid).astype(np.float32)
    pooled = _unit(grid.reshape(-1, 16).mean(0))
    objs = object_views(grid, pooled, (100, 200, 400, 500), ObjectParams(per_view=3))
    assert objs, "the distinct block must be found"
    best = objs[0]
    # 6x6 cells over a 300 px window: 50 px per cell; rows 1-2, cols 3-4.
    assert best.box == (250, 250, 350, 350)
    assert best.patches == 4
    assert best.vector @ thing > 0.95
    np.testing.assert_allclose(np.linalg.norm(best.vector), 1.0, atol=1e-5)


def test_uniform_grid_and_disabled_objects_give_nothing():
    grid = np.tile(_unit(np.ones(8)), (4, 4, 1)).astype(np.float32)
    assert object_views(grid, grid[0, 0], (0, 0, 64, 64), ObjectParams()) == []
    rng = np.random.default_rng(1)
    noisy = _unit(rng.normal(size=(4, 4, 8))).astype(np.float32)
    assert object_views(noisy, noisy[0, 0], (0, 0, 64, 64), ObjectParams(per_view=0)) == []
    assert len(object_views(noisy, noisy[0, 0], (0, 0, 64, 64), ObjectParams(per_view=2))) <= 2


def test_kmeans_is_deterministic_and_separates_clusters():
    rng = np.random.default_rng(2)
    a, b = _unit(rng.normal(size=8)), _unit(rng.normal(size=8))
    x = _unit(np.vstack([a + 0.01 * rng.normal(size=(10, 8)), b + 0.01 * rng.normal(size=(10, 8))]))
    labels = spherical_kmeans(x, 2)
    assert len(set(labels[:10])) == 1 and len(set(labels[10:])) == 1 and labels[0] != labels[10]
    np.testing.assert_array_equal(labels, spherical_kmeans(x, 2))


def test_cell_views_are_every_grid_cell_with_its_share_of_the_window():
    from geoseek.views.objects import cell_views, views_of_grid

    rng = np.random.default_rng(3)
    grid = _unit(rng.normal(size=(5, 5, 8))).astype(np.float32)
    pooled = _unit(grid.reshape(-1, 8).mean(0))
    cells = cell_views(grid, pooled, (100, 200, 600, 700))  # 100 px per cell
    assert len(cells) == 25
    assert cells[0].box == (100, 200, 200, 300) and cells[7].box == (300, 300, 400, 400)  # row 1, column 2
    assert cells[-1].box == (500, 600, 600, 700)
    np.testing.assert_array_equal(np.stack([c.vector for c in cells]), grid.reshape(25, 8))
    assert cells[7].saliency == pytest.approx(1.0 - float(grid[1, 2] @ pooled), abs=1e-6)
    # The boxes tile the window exactly: no gap, no overlap.
    assert sum((c.box[2] - c.box[0]) * (c.box[3] - c.box[1]) for c in cells) == 500 * 500
    assert views_of_grid(grid, pooled, (0, 0, 50, 50), ObjectParams(views="cells"))[3].box == (30, 0, 40, 10)
    segments = views_of_grid(grid, pooled, (0, 0, 50, 50), ObjectParams(views="segments", per_view=2))
    assert [o.box for o in segments] == [o.box for o in object_views(grid, pooled, (0, 0, 50, 50), ObjectParams(per_view=2))]
    assert 0 < len(segments) <= 2


def test_new_indexes_store_cells_and_old_settings_read_as_segments():
    from geoseek.schemas.jobs import IndexSettings

    assert IndexSettings().objects.views == "cells"
    old = IndexSettings.model_validate_json('{"model": "geoseek-default", "objects": {"per_view": 3, "clusters": 4}}')
    assert old.objects.views == "segments"  # what an index from before cells holds
    with pytest.raises(ValueError):
        ObjectParams(views="pixels")
