"""Real satellite products are indexed, shown in natural colours and found by text (shipped model).

tests/data/rasters (see SOURCES.md): a 16-bit Sentinel-2 L2A crop (bands B04, B03, B02, named in
the band descriptions, nodata 0) over the Western Sahara desert, and a 4-band RGBN NAIP crop
(8-bit, red/green/blue/undefined) of Minnesota farmland with ponds. They are indexed with the demo
sample (240 RSICD/AID chips), so a query has to pick them out of real competition.
With GEOSEEK_SCREENSHOTS_DIR set (`make screenshots`), their API thumbnails are saved side by side
as real-rasters.png.
"""
from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from geoseek.indexer import run_index
from geoseek.search import SearchEngine
from geoseek.search.images import render_jpeg

pytestmark = pytest.mark.slow  # indexes the demo sample with the shipped model

DATA = Path(__file__).resolve().parents[1] / "data" / "rasters"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
S2 = "s2_29RKH_20200219_b4b3b2.tif"
NAIP = "naip_m_4709963_se_14_20180716_rgbn.tif"


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> SearchEngine:
    base = tmp_path_factory.mktemp("real")
    (base / "scenes").mkdir()
    for name in (S2, NAIP):
        shutil.copy(DATA / name, base / "scenes" / name)
    report = run_index([EXAMPLES / "rsicd_aid" / "dataset.json", base / "scenes"], base / "ix", device="cpu",
                       progress=False)
    assert report.new_images == 242 and not report.skipped  # neither scene is skipped
    return SearchEngine(base / "ix", device="cpu")


def _id(engine: SearchEngine, name: str) -> str:
    st = engine.state()
    return next(i for i, p in zip(st.images.ids, st.images.paths) if p.endswith(name))


def _rank(engine: SearchEngine, query: str, name: str) -> tuple[int, list[str]]:
    hits = engine.search_text(query, k=242).results
    target = _id(engine, name)
    rank = next(n for n, h in enumerate(hits, 1) if h.image_id == target)
    return rank, [Path(h.path).parent.name for h in hits[: rank - 1]]


def test_bands_and_scaling_are_recorded(engine):
    rows = engine.state().images.rows
    s2, naip = rows[_id(engine, S2)].extra["display"], rows[_id(engine, NAIP)].extra["display"]
    assert s2["source"] == "descriptions" and s2["dtype"] == "uint16" and s2["bands"] == [1, 2, 3]
    assert all(0 < lo < hi < 10000 for lo, hi in zip(s2["lo"], s2["hi"]))  # L2A reflectance x 10000
    assert naip["source"] == "colorinterp" and naip["bands"] == [1, 2, 3] and naip["lo"] is None  # NIR left out


def test_thumbnails_are_in_natural_colours(engine):
    state = engine.state()
    thumbs = {name: np.asarray(Image.open(io.BytesIO(render_jpeg(state, _id(engine, name), None, 256))).convert("RGB"),
                               np.float32) for name in (S2, NAIP)}
    s2, naip = (thumbs[n].reshape(-1, 3) for n in (S2, NAIP))
    # The stretch uses the 8-bit range: not a dark, flat 16-bit-as-8-bit image.
    assert s2.std(axis=0).min() > 25 and 60 < s2.mean() < 200
    r, g, b = s2.mean(axis=0)
    assert r > b  # desert: red-brown over blue, as in a true-colour composite
    r, g, b = naip.mean(axis=0)
    assert g > r and g > b  # farmland in July: green, not the false-colour red of NIR-as-red
    shots = os.environ.get("GEOSEEK_SCREENSHOTS_DIR")
    if shots:
        side = Image.new("RGB", (2 * 256 + 8, 256), "white")
        for i, name in enumerate((S2, NAIP)):
            side.paste(Image.fromarray(thumbs[name].astype(np.uint8)), (i * 264, 0))
        side.save(Path(shots) / "real-rasters.png")


def test_text_search_finds_them(engine):
    rank, above = _rank(engine, "green fields", NAIP)
    # Among 240 chips, at most a farmland or meadow chip ranks above the NAIP fields.
    assert rank <= 3 and set(above) <= {"Farmland", "Meadow"}, (rank, above)
    rank, above = _rank(engine, "a desert with some mountains", S2)
    # Among 240 chips, only desert-like land cover ranks above the Sentinel-2 desert scene.
    assert rank <= 15 and set(above) <= {"Desert", "BareLand", "Mountain", "Meadow"}, (rank, above)
