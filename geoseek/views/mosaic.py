"""Touching GeoTIFF tiles of one grid read as one scene (``geoseek.datasets.sources.group_tiles`` decides which)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from geoseek.schemas import Georef
from geoseek.views.bands import Display, decide_display, tile_mask
from geoseek.views.raster_base import Box, RasterError, tiff_datetime
from geoseek.views.tiff import check_display, open_tiff, read_window


@dataclass
class _Tile:
    ds: object
    col: int  # pixel offset of the tile in the mosaic
    row: int


class MosaicRaster:
    """Touching GeoTIFF tiles with one CRS and pixel size, read as one scene."""

    format = "tiff-mosaic"

    def __init__(self, paths: list[Path], bands: str | None = None, display: Display | None = None) -> None:
        datasets = []
        try:
            for p in paths:
                datasets.append(open_tiff(p))
            self._setup(paths, datasets)
            self.display = (check_display(display, datasets[0]) if display
                            else decide_display(datasets, bands, (self.width, self.height)))
        except BaseException:
            for ds in datasets:
                ds.close()
            raise

    def _setup(self, paths: list[Path], datasets: list) -> None:
        from rasterio.transform import from_origin
        from rasterio.warp import transform_bounds

        first = datasets[0]
        resx, resy = abs(first.res[0]), abs(first.res[1])
        for p, ds in zip(paths, datasets):
            if ds.crs != first.crs or not np.allclose((abs(ds.res[0]), abs(ds.res[1])), (resx, resy), rtol=1e-6):
                raise RasterError(f"mosaic tile {p.name} has a different CRS or pixel size from {paths[0].name}")
        left = min(ds.bounds.left for ds in datasets)
        top = max(ds.bounds.top for ds in datasets)
        right = max(ds.bounds.right for ds in datasets)
        bottom = min(ds.bounds.bottom for ds in datasets)
        self.width = round((right - left) / resx)
        self.height = round((top - bottom) / resy)
        self.tiles = [_Tile(ds, round((ds.bounds.left - left) / resx), round((top - ds.bounds.top) / resy)) for ds in datasets]
        self.transform = from_origin(left, top, resx, resy)
        self.crs = first.crs
        wgs = transform_bounds(first.crs, "EPSG:4326", left, bottom, right, top, densify_pts=21)
        self.georef = Georef(crs=first.crs.to_string(), bounds=(left, bottom, right, top), bounds_wgs84=tuple(wgs), gsd=(resx, resy))
        self.datetime = tiff_datetime(first.tags().get("TIFFTAG_DATETIME"))

    def _native(self, box: Box, scale: float) -> np.ndarray:
        x0, y0, x1, y1 = box
        out = np.zeros((max(1, round((y1 - y0) * scale)), max(1, round((x1 - x0) * scale)), 3), np.uint8)
        for t in self.tiles:
            ix0, iy0 = max(x0, t.col), max(y0, t.row)
            ix1, iy1 = min(x1, t.col + t.ds.width), min(y1, t.row + t.ds.height)
            if ix0 >= ix1 or iy0 >= iy1:
                continue
            ox0, oy0 = round((ix0 - x0) * scale), round((iy0 - y0) * scale)
            ox1, oy1 = round((ix1 - x0) * scale), round((iy1 - y0) * scale)
            if ox1 <= ox0 or oy1 <= oy0:
                continue
            part = read_window(t.ds, (ix0 - t.col, iy0 - t.row, ix1 - t.col, iy1 - t.row), (ox1 - ox0, oy1 - oy0),
                               self.display)
            out[oy0:oy1, ox0:ox1] = np.asarray(Image.fromarray(part).resize((ox1 - ox0, oy1 - oy0), Image.BILINEAR))
        return out

    def read(self, box: Box, out_size: tuple[int, int]) -> Image.Image:
        scale = min(1.0, 2.0 * max(out_size) / max(box[2] - box[0], box[3] - box[1]))
        return Image.fromarray(self._native(box, scale)).resize(out_size, Image.BICUBIC)

    def thumbnail(self, max_side: int) -> np.ndarray:
        return self._native((0, 0, self.width, self.height), min(1.0, max_side / max(self.width, self.height)))

    def valid_mask(self, max_side: int) -> np.ndarray | None:
        """Masks of the tiles, and False where no tile covers the scene (an L-shaped set of tiles)."""
        scale = min(1.0, max_side / max(self.width, self.height))
        out = np.zeros((max(1, round(self.height * scale)), max(1, round(self.width * scale))), bool)
        for t in self.tiles:
            ox0, oy0 = round(t.col * scale), round(t.row * scale)
            ox1, oy1 = round((t.col + t.ds.width) * scale), round((t.row + t.ds.height) * scale)
            if ox1 > ox0 and oy1 > oy0:
                out[oy0:oy1, ox0:ox1] = tile_mask(t.ds, (0, 0, t.ds.width, t.ds.height), (ox1 - ox0, oy1 - oy0))
        return None if out.all() else out

    def close(self) -> None:
        for t in self.tiles:
            t.ds.close()
