"""Non-RGB rasters (16-bit, float, multispectral, grey, RGBA) are indexed, not skipped, and every later read
(API thumbnails, zoom refine) goes through the Display recorded at indexing."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from rasterio.enums import ColorInterp

from geoseek.index.catalog import Catalog, ImageRow
from geoseek.index.info import index_info
from geoseek.index.layout import IndexDir
from geoseek.indexer import run_index
from geoseek.indexer.runner import IndexSettingsError
from geoseek.search.engine import SearchEngine
from geoseek.search.images import render_jpeg
from geoseek.search.refine import read_windows
from geoseek.views import rasters, tiff
from geoseek.views.bands import Display
from tests.indexer.bad_inputs import GOOD
from tests.views.test_bands import S2_L1C, ramp, write_tif


@pytest.fixture(scope="module")
def multiband(tmp_path_factory):
    src = tmp_path_factory.mktemp("multiband")
    write_tif(src / "bgr16.tif", ramp(3, "uint16", seed=1), colorinterp=[ColorInterp.blue, ColorInterp.green, ColorInterp.red],
              photometric="MINISBLACK")
    write_tif(src / "s2.tif", ramp(13, "uint16", seed=2), descriptions=S2_L1C)
    write_tif(src / "rgbn.tif", ramp(4, "uint8", scale=50, seed=3), photometric="MINISBLACK")
    write_tif(src / "pan.tif", ramp(1, "uint16", scale=3000, seed=4))
    write_tif(src / "float.tif", ramp(3, "float32", scale=0.1, seed=5))
    half = ramp(3, "uint16", seed=6)
    half[:, :, :64] = 0
    write_tif(src / "nodata_half.tif", half, nodata=0)
    Image.open(GOOD).convert("L").save(src / "grey.png")
    Image.open(GOOD).convert("RGBA").save(src / "rgba.png")
    Image.fromarray((np.random.default_rng(7).random((80, 90)) * 9000).astype(np.uint16)).save(src / "grey16.png")
    write_tif(src / "thirteen_unnamed.tif", ramp(13, "uint16", seed=8))
    return src


def _rows(index) -> dict[str, ImageRow]:
    cat = Catalog(IndexDir(index).default_catalog_url)
    with cat.session() as s:
        return {r.path.split("/")[-1]: r for r in s.query(ImageRow).all()}


def test_multiband_rasters_are_indexed_with_their_display(tmp_path, multiband, tiny_vit_config, monkeypatch):
    index = tmp_path / "ix"
    # mosaic=False: the files share one georeference, so tile grouping would take them for one scene.
    report = run_index([multiband], index, model=str(tiny_vit_config), batch_size=16, device="cpu", progress=False,
                       mosaic=False)
    info = index_info(index)
    skipped = {s.path.split("/")[-1]: s.reason for s in info.skipped}
    assert set(skipped) == {"thirteen_unnamed.tif"} and "--bands" in skipped["thirteen_unnamed.tif"]
    assert report.new_images == info.images == 9
    rows = _rows(index)
    shown = {name: Display.model_validate(r.extra["display"]) for name, r in rows.items()}
    assert shown["bgr16.tif"].bands == (3, 2, 1) and shown["bgr16.tif"].source == "colorinterp"
    assert shown["s2.tif"].bands == (4, 3, 2) and shown["s2.tif"].source == "descriptions"
    assert shown["rgbn.tif"].bands == (1, 2, 3) and shown["rgbn.tif"].lo is None
    assert shown["pan.tif"].grey and shown["grey.png"].grey and shown["grey16.png"].grey
    assert shown["float.tif"].dtype == "float32" and shown["grey16.png"].lo is not None
    assert min(shown["nodata_half.tif"].lo) > 900  # the nodata zeros did not pull the stretch down

    # API thumbnails and zoom-refine crops read through the recorded Display: deciding one again is an error.
    engine = SearchEngine(index, device="cpu")
    state = engine.state()
    iid = rows["bgr16.tif"].image_id
    expected = np.asarray(rasters.open_raster([multiband / "bgr16.tif"]).read((0, 0, 128, 96), (128, 96)), np.float32)

    def no_recompute(*a, **k):
        raise AssertionError("display recomputed instead of the recorded one")

    monkeypatch.setattr(tiff, "decide_display", no_recompute)  # where TIFFs decide theirs
    thumb = np.asarray(Image.open(io.BytesIO(render_jpeg(state, iid, None, 128))).convert("RGB"), np.float32)
    assert thumb.shape == expected.shape  # per-pixel noise does not survive JPEG; per-channel means do
    np.testing.assert_allclose(thumb.mean(axis=(0, 1)), expected.mean(axis=(0, 1)), atol=3)
    crops = read_windows([multiband / "bgr16.tif"], [(0, 0, 64, 64)], 32, rows["bgr16.tif"].extra["display"])
    assert crops[0].size == (32, 32)
    monkeypatch.undo()
    # A query-by-image upload is a new image: it gets its own Display (16-bit TIFF and 16-bit PNG uploads work).
    for name in ("s2.tif", "grey16.png"):
        resp = engine.search_image((multiband / name).read_bytes(), k=3)
        assert len(resp.results) == 3


def test_bands_option_indexes_what_the_file_does_not_describe(tmp_path, multiband, tiny_vit_config):
    index = tmp_path / "ix"
    only = tmp_path / "only"
    only.mkdir()
    (only / "t.tif").write_bytes((multiband / "thirteen_unnamed.tif").read_bytes())
    with pytest.raises(IndexSettingsError, match="--bands"):
        run_index([only], index, model=str(tiny_vit_config), device="cpu", progress=False, bands="4,3")
    report = run_index([only], index, model=str(tiny_vit_config), device="cpu", progress=False, bands="sentinel2")
    assert report.new_images == 1 and not report.skipped
    d = Display.model_validate(_rows(index)["t.tif"].extra["display"])
    assert d.bands == (4, 3, 2) and d.source == "option"
