"""Open and validate rasters; read pixel windows as RGB.

Four readers share one small interface (``width``, ``height``, ``read``, ``thumbnail``,
``georef``; ``geoseek.views.raster_base``): PIL for JPEG/PNG/WebP/BMP (here), rasterio for (Geo)TIFF (files, and
http(s) URLs: ``geoseek.views.tiff``), a mosaic of touching GeoTIFF tiles (``geoseek.views.mosaic``) and three
one-band files stacked as RGB (``geoseek.views.stack``). Every check that can refuse an input runs in ``open_raster`` and raises
``RasterError`` whose message is the one-line reason shown to the user.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image

from geoseek.datasets import remote
from geoseek.datasets.formats import IMAGE_SUFFIXES, TIFF_SUFFIXES
from geoseek.schemas.errors import RasterError  # noqa: F401 - raised here, re-exported
from geoseek.views.bands import Display, grey_display, to_uint8
from geoseek.views.mosaic import MosaicRaster
from geoseek.views.raster_base import (
    MAX_DECODED_PIXELS,
    Box,
    Raster,
    check_size,
    tiff_datetime,
)
from geoseek.views.stack import StackedRaster
from geoseek.views.tiff import TiffRaster

log = logging.getLogger(__name__)


def _exif_datetime(im: Image.Image) -> str | None:
    try:
        raw = im.getexif().get(306)  # DateTime
    except Exception:  # broken EXIF must not refuse an otherwise good image
        return None
    return tiff_datetime(raw)



_PIL_GREY = ("L", "1", "I;16", "I;16L", "I;16B", "I", "F")
_PIL_ALPHA = {"RGBA": "RGB", "LA": "L", "PA": "RGB"}


class PILRaster:
    """A fully decoded JPEG/PNG/WebP/BMP (these formats cannot be read by window).

    RGB and palette images are used as they are; grey ones (8-bit, 16-bit, 32-bit, float) become grey RGB
    through their ``Display`` (stretched unless 8-bit); an alpha channel is a mask: fully transparent
    pixels are black and count as masked (``mask``).
    """

    georef = None

    def __init__(self, path: Path, display: Display | None = None) -> None:
        try:
            im = Image.open(path)
        except Image.DecompressionBombError as exc:
            raise RasterError(f"decompression bomb guard: {exc}") from exc
        except Exception as exc:
            raise RasterError(f"unreadable: not a recognised image ({type(exc).__name__})") from exc
        with im:
            self.format = (im.format or "unknown").lower()
            self.width, self.height = im.size
            check_size(path.stat().st_size, self.width, self.height, MAX_DECODED_PIXELS)
            if im.mode not in ("RGB", "P", *_PIL_GREY, *_PIL_ALPHA):
                raise RasterError(f"unsupported band layout: mode {im.mode} ({_describe_mode(im.mode)}); "
                                  "expected RGB, grey (8/16-bit, float) or RGBA")
            self.datetime = _exif_datetime(im)
            try:
                im.load()
            except Exception as exc:
                raise RasterError(f"truncated or corrupt image data: {exc}") from exc
            self.mask: np.ndarray | None = None  # (h, w) bool, True where masked
            if im.mode == "P" and "transparency" in im.info:
                im = im.convert("RGBA")
            if im.mode in _PIL_ALPHA:
                self.mask = np.asarray(im.getchannel("A")) == 0
                im = im.convert(_PIL_ALPHA[im.mode])
            self._image, self.display = self._to_rgb(im, display)
        if self.mask is not None and self.mask.any():
            arr = np.asarray(self._image).copy()
            arr[self.mask] = 0
            self._image = Image.fromarray(arr)

    def _to_rgb(self, im: Image.Image, display: Display | None) -> tuple[Image.Image, Display]:
        if im.mode in ("RGB", "P"):
            return im.convert("RGB"), display or Display(bands=(1, 2, 3), source="image")
        if im.mode in ("L", "1"):
            return im.convert("RGB"), display or Display(bands=(1, 1, 1), source="image")
        values = np.asarray(im)
        if values.dtype.byteorder not in ("=", "|"):
            values = values.astype(values.dtype.newbyteorder("="))
        valid = None if self.mask is None else ~self.mask
        display = display or grey_display(values, valid)
        return Image.fromarray(to_uint8(values[None].repeat(3, 0), display)), display

    def read(self, box: Box, out_size: tuple[int, int]) -> Image.Image:
        return self._image.resize(out_size, Image.BICUBIC, box=box)

    def thumbnail(self, max_side: int) -> np.ndarray:
        im = self._image.copy()
        im.thumbnail((max_side, max_side), Image.BILINEAR)
        return np.asarray(im)

    def valid_mask(self, max_side: int) -> np.ndarray | None:
        if self.mask is None or not self.mask.any():
            return None
        im = Image.fromarray((~self.mask).astype(np.uint8) * 255)
        im.thumbnail((max_side, max_side), Image.BILINEAR)
        return np.asarray(im) > 0  # valid where any source pixel under it is


def _describe_mode(mode: str) -> str:
    return {
        "L": "1 band, 8-bit", "LA": "2 bands", "RGBA": "4 bands", "CMYK": "4 bands", "I;16": "1 band, 16-bit",
        "I;16B": "1 band, 16-bit", "I": "1 band, 32-bit", "F": "1 band, float", "1": "1 band, 1-bit",
    }.get(mode, "not 8-bit RGB")


def _check_file(p: Path, suffixes: frozenset[str] | set[str] | tuple[str, ...]) -> None:
    if not p.is_file():
        raise RasterError("file not found")
    if p.stat().st_size == 0:
        raise RasterError("empty file (0 bytes)")
    if p.suffix.lower() not in suffixes:
        raise RasterError(f"unsupported format '{p.suffix or p.name}'; supported: {', '.join(sorted(suffixes))}")


def open_raster(paths: list[remote.Source], bands: str | None = None, display: Display | dict | None = None,
                stacked: bool = False) -> Raster:
    """Open one image file, several GeoTIFF tiles as a mosaic, or (``stacked``, or a recorded display that says so)
    three one-band files as R, G, B; raise RasterError with the reason.

    ``bands``: the ``--bands`` option (see ``geoseek.views.bands``); ``display``: a recorded ``Display`` (or its
    JSON dict) to read through instead of deciding one, so an indexed image is shown as it was indexed.
    """
    if isinstance(display, dict):
        display = Display.model_validate(display)
    if stacked or (display is not None and display.stacked):
        for p in paths:
            if remote.is_remote(p):
                if remote.url_suffix(p) not in TIFF_SUFFIXES:
                    raise RasterError(f"band file {remote.url_name(p)} is not a GeoTIFF (.tif, .tiff)")
            else:
                _check_file(Path(p), TIFF_SUFFIXES)
        return StackedRaster([remote.as_source(p) for p in paths], bands, display)
    if any(remote.is_remote(p) for p in paths):
        if len(paths) > 1 or remote.url_suffix(paths[0]) not in TIFF_SUFFIXES:
            raise RasterError("an http(s) source is one GeoTIFF (.tif, .tiff); remote tiles are not mosaicked")
        return TiffRaster(paths[0], bands, display)
    paths = [Path(p) for p in paths]
    for p in paths:
        _check_file(p, IMAGE_SUFFIXES)
    if len(paths) > 1:
        return MosaicRaster(paths, bands, display)
    path = paths[0]
    if path.suffix.lower() in TIFF_SUFFIXES:
        return TiffRaster(path, bands, display)
    return PILRaster(path, display)


def view_bounds(raster: Raster, box: Box) -> tuple[float, float, float, float] | None:
    """WGS84 (west, south, east, north) of a pixel box, or None for rasters without a CRS."""
    transform = getattr(raster, "transform", None)
    if raster.georef is None or transform is None:
        return None
    from rasterio.warp import transform_bounds

    x0, y0, x1, y1 = box
    ax, ay = transform @ (x0, y0)
    bx, by = transform @ (x1, y1)
    return tuple(transform_bounds(raster.crs, "EPSG:4326", min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)))
