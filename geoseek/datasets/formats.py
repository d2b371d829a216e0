"""Which files are images: the suffixes discovery accepts and the raster readers open."""
from __future__ import annotations

PIL_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})
TIFF_SUFFIXES = frozenset({".tif", ".tiff"})  # read through rasterio (windows, bands, georeference)
IMAGE_SUFFIXES = PIL_SUFFIXES | TIFF_SUFFIXES
