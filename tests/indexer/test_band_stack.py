"""Separate band files stacked as RGB: the real Landsat 8 Collection 2 Level-2 Item (USGS's STAC 0.7 json) has no
visual asset, only one GeoTIFF per band. Its red, green and blue assets (SR_B4, SR_B3, SR_B2) become one image,
from local files and over HTTP alike; the image's catalog path is a VRT in the index that GDAL opens as the
3-band scene; files that are not on one grid, or hold more than one band, are refused with the reason."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from geoseek.datasets.sources import content_ids, discover
from geoseek.index.version import read_version
from geoseek.indexer import run_index
from geoseek.search import SearchEngine
from geoseek.search.images import render_jpeg
from geoseek.views.rasters import RasterError, open_raster
from tests.http_servers import serving

RASTERS = Path(__file__).resolve().parents[1] / "data" / "rasters"
SCENE = "LC08_L2SP_001062_20201031_20201106_02_T2"
ITEM = RASTERS / f"{SCENE}_SR_stac.json"
BANDS = {b: RASTERS / f"{SCENE}_SR_B{b}.TIF" for b in (2, 3, 4)}


def _item_copy(folder: Path, base: str | None = None) -> Path:
    """The USGS Item with its band hrefs pointing at copies in ``folder`` (or at ``base``/name over HTTP)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = json.loads(ITEM.read_text())
    for p in BANDS.values():
        shutil.copy(p, folder / p.name)
    for key, asset in data["assets"].items():
        name = asset["href"].rsplit("/", 1)[-1]
        asset["href"] = f"{base}/{name}" if base else str(folder / name)
    path = folder / ITEM.name
    path.write_text(json.dumps(data))
    return path


def test_the_red_green_blue_band_assets_are_picked_in_that_order(tmp_path):
    items, skipped = discover([_item_copy(tmp_path / "local")])
    assert len(items) == 1 and not skipped
    item = items[0]
    assert item.stacked and [Path(p).name for p in item.paths] == [BANDS[b].name for b in (4, 3, 2)]
    assert item.extra["stac"]["asset"] == "SR_B4.TIF,SR_B3.TIF,SR_B2.TIF" and item.collection == "landsat-c2l2-sr"
    # Order is part of the id: blue, green, red is another image than red, green, blue.
    assert content_ids(item.paths, stacked=True)[0] != content_ids(item.paths[::-1], stacked=True)[0]
    named, _ = discover([tmp_path / "local" / ITEM.name], asset="SR_B5.TIF,SR_B4.TIF,SR_B3.TIF")  # a false-colour stack
    assert [Path(p).name for p in named[0].paths][0].endswith("SR_B5.TIF")
    _, bad = discover([tmp_path / "local" / ITEM.name], asset="SR_B4.TIF,SR_B3.TIF")
    assert "names 2 assets; give one, or three (R,G,B)" in bad[0].reason


def test_a_band_stack_indexes_as_one_image_with_a_vrt_gdal_opens(tmp_path, tiny_vit_config):
    import rasterio

    report = run_index([_item_copy(tmp_path / "local")], tmp_path / "ix", model=str(tiny_vit_config), device="cpu",
                       progress=False)
    assert report.new_images == 1 and not report.skipped
    engine = SearchEngine(tmp_path / "ix", device="cpu")
    state = engine.state()
    (row,) = state.images.rows.values()
    assert row.path == f"stacks/{row.image_id}.vrt" and row.format == "tiff-stack"
    assert [Path(p).name for p in row.extra["band_files"]] == [BANDS[b].name for b in (4, 3, 2)]
    display = row.extra["display"]
    assert display["stacked"] and display["dtype"] == "uint16" and display["source"] == "colorinterp"
    assert row.datetime == "2020-10-31T00:00:00" and row.crs == "EPSG:32620"
    # The VRT in the index is the scene: its bands are the band files' pixels, in R, G, B order.
    with rasterio.open(tmp_path / "ix" / row.path) as vrt:
        assert vrt.count == 3 and vrt.colorinterp[0].name == "red"
        for i, b in enumerate((4, 3, 2), 1):
            with rasterio.open(BANDS[b]) as band:
                assert np.array_equal(vrt.read(i), band.read(1))
    hit = engine.search_text("clouds over a forest", k=1).results[0]
    assert hit.image_id == row.image_id and hit.stac.id == SCENE
    jpeg = render_jpeg(state, row.image_id, None, 200)  # read back through the recorded stack and stretch
    assert jpeg[:2] == b"\xff\xd8"
    again = run_index([_item_copy(tmp_path / "local")], tmp_path / "ix", model=str(tiny_vit_config), device="cpu",
                      progress=False)
    assert again.new_images == 0 and again.already_indexed == 1


def test_a_band_stack_over_http_gives_the_local_vectors(tmp_path, tiny_vit_config):
    local = _item_copy(tmp_path / "local")
    run_index([local], tmp_path / "ix-local", model=str(tiny_vit_config), device="cpu", progress=False)
    with serving(tmp_path / "local") as srv:
        remote = _item_copy(tmp_path / "remote", base=srv.base)
        report = run_index([remote], tmp_path / "ix-http", model=str(tiny_vit_config), device="cpu", progress=False)
        assert report.new_images == 1 and not report.skipped
        assert any("SR_B4.TIF" in r for r in srv.requests) and any("SR_B2.TIF" in r for r in srv.requests)
        state = SearchEngine(tmp_path / "ix-http", device="cpu").state()
        (row,) = state.images.rows.values()
        assert all(p.startswith(srv.base) for p in row.extra["band_files"])
        assert render_jpeg(state, row.image_id, None, 128)[:2] == b"\xff\xd8"  # thumbnails read the URLs
    a, b = (read_version(tmp_path / d, faiss_indices=False) for d in ("ix-local", "ix-http"))
    for level in a.levels:
        assert np.allclose(a.levels[level].vectors.astype(np.float32), b.levels[level].vectors.astype(np.float32), atol=1e-3)


def test_files_off_one_grid_or_with_several_bands_are_refused_with_the_reason():
    pan, ms = RASTERS / "LC80200392015216LGN00_pan_b8.tif", RASTERS / "LC80200392015216LGN00_ms_b4b3b2.tif"
    with pytest.raises(RasterError, match="are not on one grid"):
        open_raster([BANDS[4], BANDS[3], pan], stacked=True)
    with pytest.raises(RasterError, match="has 3 bands; each file of a band stack holds one"):
        open_raster([BANDS[4], BANDS[3], ms], stacked=True)
    with pytest.raises(RasterError, match="file not found"):
        open_raster([BANDS[4], BANDS[3], RASTERS / "gone.tif"], stacked=True)
