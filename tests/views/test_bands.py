"""Band choice and 8-bit scaling of non-RGB rasters, from small GeoTIFFs / PNGs written here."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.enums import ColorInterp
from rasterio.transform import from_origin

from geoseek.views.bands import Display, decide_display
from geoseek.views.rasters import RasterError, open_raster
from tests.indexer.bad_inputs import GOOD

S2_L1C = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12"]
H, W = 96, 128


def ramp(count: int, dtype: str, scale: float = 1000.0, seed: int = 0) -> np.ndarray:
    """(count, H, W) distinct per band: band k has values around (k+1)*scale with texture."""
    rng = np.random.default_rng(seed)
    base = rng.random((count, H, W)) * scale
    return (base + (np.arange(count) + 1).reshape(-1, 1, 1) * scale).astype(dtype)


def write_tif(path: Path, data: np.ndarray, *, colorinterp=None, descriptions=None, nodata=None, **profile) -> Path:
    count, h, w = data.shape
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=count, dtype=data.dtype.name,
                       crs="EPSG:32633", transform=from_origin(500000, 4000000, 10, 10), nodata=nodata, **profile) as ds:
        ds.write(data)
        if colorinterp:
            ds.colorinterp = colorinterp
        for i, d in enumerate(descriptions or []):
            ds.set_band_description(i + 1, d)
    return path


def test_colorinterp_picks_the_bands(tmp_path):
    data = ramp(3, "uint16")
    p = write_tif(tmp_path / "bgr.tif", data, colorinterp=[ColorInterp.blue, ColorInterp.green, ColorInterp.red],
                  photometric="MINISBLACK")
    r = open_raster([p])
    assert r.display.bands == (3, 2, 1) and r.display.source == "colorinterp" and r.display.dtype == "uint16"
    # Per band 2nd..98th percentile -> ~0..255: red (band 3) has the highest values, yet spans the full range.
    for c, band in enumerate((3, 2, 1)):
        lo, hi = np.percentile(data[band - 1], (2, 98))
        assert r.display.lo[c] == pytest.approx(lo, rel=0.02) and r.display.hi[c] == pytest.approx(hi, rel=0.02)
    full = np.asarray(r.read((0, 0, W, H), (W, H)))
    assert full.dtype == np.uint8
    for c in range(3):
        p2, p98 = np.percentile(full[..., c], (2, 98))
        assert p2 <= 12 and p98 >= 243, (c, p2, p98)


def test_sentinel2_descriptions_and_the_preset(tmp_path):
    p = write_tif(tmp_path / "s2.tif", ramp(13, "uint16"), descriptions=S2_L1C)
    d = open_raster([p]).display
    assert d.bands == (4, 3, 2) and d.source == "descriptions"
    # Zero-padded and lower-case names, and Landsat collection names, too.
    q = write_tif(tmp_path / "s2b.tif", ramp(13, "uint16"), descriptions=[f"b{n[1:]:0>2}" for n in S2_L1C])
    assert open_raster([q]).display.bands == (4, 3, 2)
    ls = ["SR_B1", "SR_B2", "SR_B3", "SR_B4", "SR_B5", "SR_B6", "SR_B7"]
    r = write_tif(tmp_path / "l8.tif", ramp(7, "uint16"), descriptions=ls)
    assert open_raster([r]).display.bands == (4, 3, 2)


def test_many_bands_without_names_need_the_option(tmp_path):
    p = write_tif(tmp_path / "thirteen.tif", ramp(13, "uint16"))
    with pytest.raises(RasterError) as err:
        open_raster([p])
    assert "--bands" in str(err.value) and "13 band(s)" in str(err.value) and "\n" not in str(err.value)
    assert open_raster([p], bands="sentinel2").display.bands == (4, 3, 2)
    assert open_raster([p], bands="8,4,3").display.bands == (8, 4, 3)
    assert open_raster([p], bands="11").display.bands == (11, 11, 11)
    with pytest.raises(RasterError, match="names band 14"):
        open_raster([p], bands="14,3,2")
    with pytest.raises(RasterError, match="--bands must"):
        open_raster([p], bands="red")


def test_rgbn_uint8_and_pan_uint16(tmp_path):
    rgbn = ramp(4, "uint8", scale=50)
    p = write_tif(tmp_path / "rgbn.tif", rgbn, photometric="MINISBLACK")
    r = open_raster([p])
    assert r.display.bands == (1, 2, 3) and r.display.lo is None  # 8-bit: used as is
    np.testing.assert_array_equal(np.asarray(r.read((0, 0, W, H), (W, H))), rgbn[:3].transpose(1, 2, 0))
    pan = write_tif(tmp_path / "pan.tif", ramp(1, "uint16", scale=3000))
    g = open_raster([pan])
    assert g.display.bands == (1, 1, 1)
    t = g.thumbnail(128)  # native size: the random texture is not averaged away
    assert (t[..., 0] == t[..., 1]).all() and (t[..., 1] == t[..., 2]).all() and t.max() > 240 and t.min() < 15


def test_float32_with_nan(tmp_path):
    data = ramp(3, "float32", scale=0.1)
    data[:, :10, :10] = np.nan
    r = open_raster([write_tif(tmp_path / "f.tif", data)])
    assert r.display.dtype == "float32" and all(np.isfinite(r.display.lo)) and all(np.isfinite(r.display.hi))
    out = r.thumbnail(128)
    assert out.dtype == np.uint8 and out.max() > 240


def test_nodata_half_is_ignored_by_the_stretch_and_black(tmp_path):
    data = ramp(3, "uint16")
    data[:, :, : W // 2] = 65535  # nodata in the left half: must not reach the percentiles
    r = open_raster([write_tif(tmp_path / "nd.tif", data, nodata=65535)])
    assert max(r.display.hi) < 5000
    full = np.asarray(r.read((0, 0, W, H), (W, H)))
    assert (full[:, : W // 2 - 2] == 0).all() and full[:, W // 2 + 2 :].max() > 240
    with pytest.raises(RasterError, match="no valid pixels"):
        open_raster([write_tif(tmp_path / "all_nd.tif", np.full((1, H, W), 7, np.uint16), nodata=7)])


def test_recorded_display_is_used_not_recomputed(tmp_path):
    p = write_tif(tmp_path / "a.tif", ramp(3, "uint16"))
    d = open_raster([p]).display
    fixed = Display(bands=(1, 2, 3), lo=(0.0, 0.0, 0.0), hi=(10000.0, 10000.0, 10000.0), dtype="uint16")
    r = open_raster([p], display=fixed.model_dump(mode="json"))
    assert r.display == fixed != d
    assert np.asarray(r.read((0, 0, W, H), (W, H))).max() < 120  # 4000/10000*255
    assert Display.model_validate_json(d.model_dump_json()) == d


def test_mosaic_tiles_share_one_display(tmp_path):
    data = ramp(3, "uint16")
    a = write_tif(tmp_path / "a.tif", data[:, :, : W // 2])
    with rasterio.open(tmp_path / "b.tif", "w", driver="GTiff", width=W // 2, height=H, count=3, dtype="uint16",
                       crs="EPSG:32633", transform=from_origin(500000 + 10 * W // 2, 4000000, 10, 10)) as ds:
        ds.write(data[:, :, W // 2 :])
    m = open_raster([a, tmp_path / "b.tif"])
    one = open_raster([write_tif(tmp_path / "whole.tif", data)])
    assert m.display.bands == one.display.bands
    np.testing.assert_allclose(m.display.lo, one.display.lo, rtol=0.02)
    with rasterio.open(a) as ds:
        assert decide_display([ds]).bands == (1, 2, 3)


def test_pil_grey_16bit_and_rgba(tmp_path):
    arr = (np.random.default_rng(0).random((H, W)) * 4000 + 1000).astype(np.uint16)
    Image.fromarray(arr).save(tmp_path / "g16.png")
    r = open_raster([tmp_path / "g16.png"])
    assert r.display.bands == (1, 1, 1) and r.display.lo is not None
    t = r.thumbnail(128)
    assert t.shape == (H, W, 3) and t.max() > 240 and t.min() < 15
    Image.open(GOOD).convert("L").save(tmp_path / "g8.png")
    g8 = open_raster([tmp_path / "g8.png"])
    assert g8.display.lo is None and np.asarray(g8.read((0, 0, 150, 150), (150, 150)))[..., 0].tolist() == \
        np.asarray(Image.open(tmp_path / "g8.png")).tolist()
    rgba = Image.open(GOOD).convert("RGBA")
    a = np.asarray(rgba).copy()
    a[:, :75, 3] = 0
    Image.fromarray(a).save(tmp_path / "rgba.png")
    ra = open_raster([tmp_path / "rgba.png"])
    assert ra.mask is not None and ra.mask[:, :75].all() and not ra.mask[:, 75:].any()
    assert (np.asarray(ra.read((0, 0, 150, 150), (150, 150)))[:, :75] == 0).all()


def test_masked_areas_get_no_views_and_do_not_count_as_detail(tmp_path):
    from geoseek.schemas import DRISParams
    from geoseek.views.planner import ComplexCells, plan_uniform, plan_views

    side, w, h = 64, 1024, 512
    blocks = np.random.default_rng(1).random((3, h // 32, w // 32)) * 3000 + 500  # 32 px blocks: detail a thumbnail keeps
    data = np.kron(blocks, np.ones((1, 32, 32))).astype(np.uint16)
    data[:, :, w // 2 :] = 0  # the right half is nodata
    r = open_raster([write_tif(tmp_path / "half.tif", data, nodata=0)])
    thumb, valid = r.thumbnail(256), r.valid_mask(256)
    assert valid.shape == thumb.shape[:2] and valid[:, :120].all() and not valid[:, 136:].any()
    nodes = plan_views(w, h, side, thumb, DRISParams(budget_per_tile=4), valid)
    assert len(nodes) > 5 and all(n.box[0] < w // 2 for n in nodes[1:])  # no region view in the masked half
    assert all(t.box[0] < w // 2 for t in plan_uniform(w, h, side, valid)[1:])
    assert len(plan_uniform(w, h, side, valid)) == 1 + (w // 2 // side) * (h // side)
    # The straight edge of the data footprint is not detail: a flat scene with a masked half has no complex cells.
    flat = np.full((h // 2, w // 2, 3), 90, np.uint8)
    flat[:, w // 4 :] = 0
    fvalid = np.ones(flat.shape[:2], bool)
    fvalid[:, w // 4 :] = False
    assert ComplexCells(flat, w, h, side, 0.004).mask.any()  # without the mask the edge looks complex
    assert not ComplexCells(flat, w, h, side, 0.004, fvalid).mask.any()
    assert open_raster([write_tif(tmp_path / "full.tif", data[:, :, : w // 2])]).valid_mask(256) is None
