"""A large scene is never decoded whole: every pixel read GeoSeek asks rasterio for while indexing a 6,000 x 6,000 px
tiled GeoTIFF with overviews (thumbnail strips, view crops, masks) returns a small part of the full image.
benchmarks/large_scene.py measures the memory of the same reads on a 10,000 px scene."""
from __future__ import annotations

import numpy as np
import pytest

from geoseek.indexer import run_index
from tests.conftest import JOPLIN

pytestmark = pytest.mark.slow  # writes a 6,000 px GeoTIFF and indexes it (about 30 s)

SIDE = 6000


def _scene(path) -> None:
    """The first Joplin tile (1024 px) repeated 6 x 6 into a 6,000 px tiled, DEFLATE GeoTIFF with overviews."""
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.windows import Window

    with rasterio.open(sorted((JOPLIN / "tiles" / "post").glob("*.tif"))[0]) as t:
        tile, crs, transform = t.read(), t.crs, t.transform
    profile = dict(driver="GTiff", width=SIDE, height=SIDE, count=3, dtype="uint8", crs=crs, transform=transform,
                   tiled=True, blockxsize=512, blockysize=512, compress="deflate")
    with rasterio.open(path, "w", **profile) as dst:
        for y in range(0, SIDE, 1024):
            for x in range(0, SIDE, 1024):
                w, h = min(1024, SIDE - x), min(1024, SIDE - y)
                dst.write(tile[:, :h, :w], window=Window(x, y, w, h))
        dst.build_overviews([2, 4, 8, 16], Resampling.average)


def test_no_read_decodes_the_whole_scene(tmp_path, tiny_vit_config, monkeypatch):
    from rasterio.io import DatasetReader

    (tmp_path / "scene").mkdir()
    _scene(tmp_path / "scene" / "big.tif")
    sizes: list[int] = []
    real = DatasetReader.read

    def spy(self, *args, **kwargs):
        out = real(self, *args, **kwargs)
        sizes.append(int(np.prod(out.shape[-2:])))
        return out

    monkeypatch.setattr(DatasetReader, "read", spy)
    report = run_index([tmp_path / "scene"], tmp_path / "ix", model=str(tiny_vit_config), device="cpu", progress=False)
    assert report.new_images == 1 and not report.skipped
    assert len(sizes) > 100  # the views were read one by one
    # The largest read is the 1,200 px thumbnail's (DRIS measures complexity on it), read from an overview at
    # twice its side: 5.8 of the scene's 36 Mpx. View crops read at most twice the encoder's input.
    assert max(sizes) <= (2 * 1200) ** 2 < SIDE * SIDE / 6, max(sizes)
