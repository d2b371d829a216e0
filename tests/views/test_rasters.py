from pathlib import Path

import numpy as np
import pytest

from geoseek.views.rasters import RasterError, open_raster, view_bounds
from tests.conftest import JOPLIN, MINI
from tests.indexer.bad_inputs import GOOD, make_bad_inputs

TILES = sorted((JOPLIN / "tiles" / "post").glob("*.tif"))


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad")
    return folder, make_bad_inputs(folder)


@pytest.mark.parametrize("name", [
    "empty.jpg", "truncated.jpg", "not_an_image.png", "anim.gif", "bomb.png", "bomb.tif",
    "cmyk.jpg", "thirteen_band.tif", "two_band.tif", "complex.tif",
])
def test_bad_input_is_refused_with_its_reason(bad, name):
    folder, expected = bad
    with pytest.raises(RasterError) as err:
        open_raster([folder / name])
    assert expected[name] in str(err.value)
    assert "\n" not in str(err.value)


def test_jpeg_and_tiff_read_as_rgb_windows():
    r = open_raster([GOOD])
    assert (r.width, r.height, r.georef) == (150, 150, None)
    crop = r.read((0, 0, 75, 75), (64, 64))
    assert crop.size == (64, 64) and crop.mode == "RGB"
    tif = next((MINI / "Sydney").glob("*.tif"))
    t = open_raster([tif])
    assert (t.width, t.height) == (500, 500)
    assert t.thumbnail(100).shape == (100, 100, 3)


def test_geotiff_keeps_crs_bounds_and_gsd():
    import rasterio

    r = open_raster([TILES[0]])
    with rasterio.open(TILES[0]) as ds:
        assert r.georef.crs == ds.crs.to_string()
        assert r.georef.bounds == pytest.approx(tuple(ds.bounds))
        assert r.georef.gsd == pytest.approx((abs(ds.res[0]), abs(ds.res[1])))
    # EPSG:4326 tiles: the WGS84 bounds are the bounds; Joplin, Missouri.
    west, south, east, north = r.georef.bounds_wgs84
    assert -94.6 < west < east < -94.4 and 37.0 < south < north < 37.1
    assert view_bounds(r, (0, 0, r.width, r.height)) == pytest.approx(r.georef.bounds_wgs84)


def test_tiles_read_as_one_mosaic_equal_to_the_stitched_scene():
    from PIL import Image

    m = open_raster(TILES)
    assert (m.width, m.height) == (3072, 2048)
    union = [min(open_raster([t]).georef.bounds[0] for t in TILES), min(open_raster([t]).georef.bounds[1] for t in TILES),
             max(open_raster([t]).georef.bounds[2] for t in TILES), max(open_raster([t]).georef.bounds[3] for t in TILES)]
    assert m.georef.bounds == pytest.approx(tuple(union))
    # A window across the seam of four tiles matches the published stitched JPEG (lossy, so loosely).
    box = (900, 900, 1150, 1150)
    ours = np.asarray(m.read(box, (250, 250)), dtype=np.float32)
    ref = np.asarray(Image.open(JOPLIN / "post_mosaic_3072x2048.jpg").convert("RGB").crop(box), dtype=np.float32)
    assert np.abs(ours - ref).mean() < 12
    # The view's WGS84 box lies inside the scene and is 250 px x 6e-6 deg wide.
    w, s, e, n = view_bounds(m, box)
    assert (e - w) == pytest.approx(250 * 6e-6, rel=1e-3)
    assert m.georef.bounds[0] <= w < e <= m.georef.bounds[2]


def test_missing_file():
    with pytest.raises(RasterError, match="file not found"):
        open_raster([Path("/no/such/file.jpg")])
