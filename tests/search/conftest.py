"""A real small index for search tests: RSICD chips with captions, a re-encoded near-duplicate,
and two georeferenced Joplin tiles with capture dates (2011 and 2020)."""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from geoseek.indexer import run_index
from tests.conftest import JOPLIN, write_chip_archive

TILE_A = "tile_31500-5137.tif"
TILE_B = "tile_33548-6161.tif"


@dataclass
class SmallIndex:
    root: Path
    spec: str
    chip0: Path
    dup: Path
    tile_a: Path
    tile_b: Path


def _dated_tile(src: Path, dst: Path, when: str) -> None:
    import rasterio

    with rasterio.open(src) as s:
        profile = s.profile
        data = s.read()
    with rasterio.open(dst, "w", **profile) as d:
        d.write(data)
        d.update_tags(TIFFTAG_DATETIME=when)


def build_small_index(base: Path, spec: str) -> SmallIndex:
    archive = base / "archive"
    entries = write_chip_archive(archive, 12)
    chip0 = archive / entries[0]["filepath"]
    dup_dir = base / "dup"
    dup_dir.mkdir()
    buf = io.BytesIO()
    Image.open(chip0).convert("RGB").save(buf, format="JPEG", quality=85)
    (dup_dir / "near_duplicate.jpg").write_bytes(buf.getvalue())
    geo_a, geo_b = base / "geo_a", base / "geo_b"
    geo_a.mkdir()
    geo_b.mkdir()
    _dated_tile(JOPLIN / "tiles" / "post" / TILE_A, geo_a / TILE_A, "2011:05:24 17:00:00")
    _dated_tile(JOPLIN / "tiles" / "post" / TILE_B, geo_b / TILE_B, "2020:03:10 16:30:00")
    root = base / "ix"
    run_index([archive / "dataset.json", dup_dir, geo_a, geo_b], root, model=spec, batch_size=32, device="cpu", progress=False)
    return SmallIndex(root, spec, chip0, dup_dir / "near_duplicate.jpg", geo_a / TILE_A, geo_b / TILE_B)


@pytest.fixture(scope="session")
def small_index(tmp_path_factory, tiny_vit_config) -> SmallIndex:
    return build_small_index(tmp_path_factory.mktemp("search"), str(tiny_vit_config))
