"""Scenes only from tiles of one grid: co-located rasters (other dates, other products), rasters on
another grid, misaligned or corner-touching tiles stay separate images; the Joplin tiles stay one scene."""
from __future__ import annotations

from pathlib import Path

import pytest

from geoseek.datasets.sources import discover, group_tiles
from tests.conftest import JOPLIN

POST = JOPLIN / "tiles" / "post"
A, B = POST / "tile_31500-5137.tif", POST / "tile_32524-5137.tif"  # side by side


def _copy(src: Path, dst: Path, dx_px: float = 0.0, dy_px: float = 0.0, scale: float = 1.0, when: str | None = None) -> Path:
    """``src`` written to ``dst``, its origin moved by (dx_px, dy_px) pixels, its pixel size times ``scale``."""
    import rasterio
    from rasterio.transform import Affine

    with rasterio.open(src) as s:
        profile, data, t = s.profile, s.read(), s.transform
    profile["transform"] = Affine(t.a * scale, t.b, t.c + dx_px * t.a, t.d, t.e * scale, t.f + dy_px * t.e)
    with rasterio.open(dst, "w", **profile) as d:
        d.write(data)
        if when:
            d.update_tags(TIFFTAG_DATETIME=when)
    return dst


def test_the_six_touching_joplin_tiles_are_one_scene():
    tiles = sorted(POST.glob("*.tif"))
    assert group_tiles(tiles) == [tuple(tiles)]


def test_two_dates_of_one_tile_are_two_images(tmp_path):
    d1 = _copy(A, tmp_path / "2011.tif", when="2011:05:24 17:00:00")
    d2 = _copy(A, tmp_path / "2020.tif", when="2020:03:10 16:30:00")
    nb = _copy(B, tmp_path / "neighbour.tif")
    groups = group_tiles([d1, d2, nb])
    # Both dates stay whole images; the neighbour of both is not merged into either.
    assert sorted(groups) == [(d1,), (d2,), (nb,)]
    items, skipped = discover([tmp_path])
    assert sorted(i.paths for i in items) == [(d1,), (d2,), (nb,)] and not skipped


def test_partly_overlapping_rasters_stay_separate(tmp_path):
    a = _copy(A, tmp_path / "a.tif")
    half = _copy(A, tmp_path / "half.tif", dx_px=512)  # half over a, half beyond it
    assert sorted(group_tiles([a, half])) == [(a,), (half,)]


@pytest.mark.parametrize("dx,dy,scale,why", [
    (1024, 0.5, 1.0, "half a pixel off the grid"),
    (1024, 1024, 1.0, "touching at a corner only"),
    (1024, 0, 2.0, "another pixel size (e.g. a pan band beside multispectral ones)"),
    (1030, 0, 1.0, "a gap of six pixels"),
])
def test_tiles_off_one_grid_stay_separate(tmp_path, dx, dy, scale, why):
    a = _copy(A, tmp_path / "a.tif")
    other = _copy(A, tmp_path / "other.tif", dx_px=dx, dy_px=dy, scale=scale)
    assert sorted(group_tiles([a, other])) == [(a,), (other,)], why


def test_edge_adjacent_tiles_on_one_grid_join(tmp_path):
    a = _copy(A, tmp_path / "a.tif")
    below = _copy(A, tmp_path / "below.tif", dy_px=1024)
    right = _copy(A, tmp_path / "right.tif", dx_px=1024)
    assert group_tiles([a, below, right]) == [(a, below, right)]


def test_two_dates_index_as_two_images_and_a_date_filter_tells_them_apart(tmp_path, tiny_vit_config):
    from datetime import datetime

    from geoseek.indexer import run_index
    from geoseek.search import Filters, SearchEngine

    folder = tmp_path / "tile"
    folder.mkdir()
    d1 = _copy(A, folder / "2011.tif", when="2011:05:24 17:00:00")
    d2 = _copy(A, folder / "2020.tif", when="2020:03:10 16:30:00")
    report = run_index([folder], tmp_path / "ix", model=str(tiny_vit_config), device="cpu", progress=False)
    assert report.new_images == 2 and not report.skipped
    engine = SearchEngine(tmp_path / "ix", device="cpu")
    both = engine.search_text("houses", k=5)
    assert sorted(h.path for h in both.results) == [str(d1), str(d2)]
    assert {h.datetime for h in both.results} == {"2011-05-24T17:00:00", "2020-03-10T16:30:00"}
    late = engine.search_text("houses", k=5, filters=Filters(start=datetime(2015, 1, 1)))
    assert [h.path for h in late.results] == [str(d2)]
    early = engine.search_text("houses", k=5, filters=Filters(end=datetime(2015, 1, 1)))
    assert [h.path for h in early.results] == [str(d1)]


RASTERS = Path(__file__).resolve().parents[1] / "data" / "rasters"
PAN, MS = RASTERS / "LC80200392015216LGN00_pan_b8.tif", RASTERS / "LC80200392015216LGN00_ms_b4b3b2.tif"


def test_a_real_pan_and_multispectral_pair_indexes_as_two_images(tmp_path, tiny_vit_config):
    """Landsat 8 of one footprint and date: band 8 (panchromatic, 15 m) and bands 4/3/2 (30 m, stacked in one file)."""
    import shutil

    from geoseek.indexer import run_index
    from geoseek.search import SearchEngine

    folder = tmp_path / "landsat"
    folder.mkdir()
    pan, ms = shutil.copy(PAN, folder), shutil.copy(MS, folder)
    pan, ms = Path(pan), Path(ms)
    assert sorted(group_tiles([pan, ms])) == [(ms,), (pan,)]  # co-located, another pixel size: never one scene
    report = run_index([folder], tmp_path / "ix", model=str(tiny_vit_config), device="cpu", progress=False)
    assert report.new_images == 2 and not report.skipped
    state = SearchEngine(tmp_path / "ix", device="cpu").state()
    rows = {Path(r.path).name: r for r in state.images.rows.values()}
    assert set(rows) == {pan.name, ms.name}
    p, m = rows[pan.name], rows[ms.name]
    assert (p.width, p.height, m.width, m.height) == (400, 400, 200, 200)
    assert p.gsd == [15.0, 15.0] and m.gsd == [30.0, 30.0] and p.datetime == m.datetime == "2015-08-04T16:19:21"
    assert p.extra["display"]["bands"] == [1, 1, 1] and p.extra["display"]["dtype"] == "uint16"  # grey, stretched
    assert m.extra["display"]["bands"] == [1, 2, 3] and m.extra["display"]["source"] == "descriptions"
    assert "tiles" not in p.extra and "tiles" not in m.extra
