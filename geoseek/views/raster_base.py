"""What every raster reader shares: the ``Raster`` interface, the decompression-bomb guard and TIFF dates.

Readers: ``geoseek.views.tiff`` (one (Geo)TIFF, file or URL), ``geoseek.views.mosaic`` (touching tiles of one grid),
``geoseek.views.stack`` (one band per file, stacked as RGB) and PIL in ``geoseek.views.rasters``, which opens them all.
"""
from __future__ import annotations

import warnings
from typing import Protocol

import numpy as np
from PIL import Image

from geoseek.schemas import Georef
from geoseek.schemas.errors import RasterError
from geoseek.views.bands import Display

try:  # plain (non-geo) TIFFs are valid inputs; rasterio's warning about them is noise
    from rasterio.errors import NotGeoreferencedWarning

    warnings.filterwarnings("ignore", category=NotGeoreferencedWarning)
except ImportError:
    pass

# PIL decodes whole images: cap them. rasterio reads windows, so larger scenes are fine,
# but a header whose pixel count is absurd for the file size is a decompression bomb.
MAX_DECODED_PIXELS = 150_000_000
MAX_WINDOWED_PIXELS = 20_000_000_000
MAX_PIXELS_PER_BYTE = 2_000

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in source pixels, x1/y1 exclusive


class Raster(Protocol):
    width: int
    height: int
    georef: Georef | None
    datetime: str | None
    format: str
    display: Display  # bands and 8-bit scaling every read goes through

    def read(self, box: Box, out_size: tuple[int, int]) -> Image.Image:
        """Pixels of ``box`` resampled to ``out_size`` (w, h), as an RGB PIL image."""

    def thumbnail(self, max_side: int) -> np.ndarray:
        """The whole raster with its long side at most ``max_side``: (h, w, 3) uint8."""

    def valid_mask(self, max_side: int) -> np.ndarray | None:
        """(h, w) bool of the same shape as ``thumbnail(max_side)``, False where nodata/alpha/masked; None: all valid."""


def check_size(file_size: int | None, width: int, height: int, limit: int) -> None:
    pixels = width * height
    size = max(file_size or 0, 1)
    if pixels > limit:
        raise RasterError(f"decompression bomb guard: header claims {width}x{height} ({pixels:,} px), limit is {limit:,} px")
    if file_size is not None and pixels > 1_000_000 and pixels / size > MAX_PIXELS_PER_BYTE:
        raise RasterError(
            f"decompression bomb guard: header claims {width}x{height} ({pixels:,} px) in a {size:,}-byte file"
        )


def tiff_datetime(raw: str | None) -> str | None:
    if not raw or len(raw) < 19:
        return None
    return raw[:10].replace(":", "-") + "T" + raw[11:19]

