"""Open and validate rasters; read pixel windows as RGB.

Three readers share one small interface (``width``, ``height``, ``read``, ``thumbnail``,
``georef``): PIL for JPEG/PNG/WebP/BMP, rasterio for (Geo)TIFF (files, and http(s) URLs: ``datasets.remote``),
and a mosaic of touching GeoTIFF tiles. Every check that can refuse an input runs in ``open_raster`` and raises
``RasterError`` whose message is the one-line reason shown to the user.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image

from geoseek.datasets import remote
from geoseek.datasets.formats import IMAGE_SUFFIXES, TIFF_SUFFIXES
from geoseek.schemas import Georef
from geoseek.schemas.errors import RasterError  # noqa: F401 - raised here, re-exported
from geoseek.views.bands import (
    Display,
    all_valid,
    decide_display,
    grey_display,
    thumb_size,
    tile_mask,
    to_uint8,
    unique_bands,
)

log = logging.getLogger(__name__)

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


def _check_size(file_size: int | None, width: int, height: int, limit: int) -> None:
    pixels = width * height
    size = max(file_size or 0, 1)
    if pixels > limit:
        raise RasterError(f"decompression bomb guard: header claims {width}x{height} ({pixels:,} px), limit is {limit:,} px")
    if file_size is not None and pixels > 1_000_000 and pixels / size > MAX_PIXELS_PER_BYTE:
        raise RasterError(
            f"decompression bomb guard: header claims {width}x{height} ({pixels:,} px) in a {size:,}-byte file"
        )


def _exif_datetime(im: Image.Image) -> str | None:
    try:
        raw = im.getexif().get(306)  # DateTime
    except Exception:  # broken EXIF must not refuse an otherwise good image
        return None
    return _tiff_datetime(raw)


def _tiff_datetime(raw: str | None) -> str | None:
    if not raw or len(raw) < 19:
        return None
    return raw[:10].replace(":", "-") + "T" + raw[11:19]


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
            _check_size(path.stat().st_size, self.width, self.height, MAX_DECODED_PIXELS)
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


def _georef(ds) -> Georef | None:
    """Georeference of an open rasterio dataset, or None when it has no CRS."""
    if ds.crs is None:
        return None
    from rasterio.warp import transform_bounds

    b = ds.bounds
    wgs = transform_bounds(ds.crs, "EPSG:4326", *b, densify_pts=21)
    return Georef(crs=ds.crs.to_string(), bounds=tuple(b), bounds_wgs84=tuple(wgs), gsd=(abs(ds.res[0]), abs(ds.res[1])))


def _open_tiff(path: remote.Source):
    import rasterio

    try:  # a URL's size (None: not sent) from one HEAD; the bomb guard needs it
        size = remote.probe(path).size if remote.is_remote(path) else path.stat().st_size
        with remote.read_env(path):
            ds = rasterio.open(path)
    except remote.RemoteError as exc:
        raise RasterError(f"unreachable: {exc}") from None
    except Exception as exc:
        raise RasterError(f"unreadable: {str(exc).splitlines()[0][:160]}") from exc
    try:
        _check_size(size, ds.width, ds.height, MAX_WINDOWED_PIXELS)
        if ds.count < 1:
            raise RasterError("unsupported band layout: the file has no bands")
    except BaseException:
        ds.close()
        raise
    return ds


def _check_display(display: Display, ds) -> Display:
    """A recorded display must still fit the file (its bands exist)."""
    if max(display.bands) > ds.count:
        raise RasterError(f"recorded display bands {display.bands} do not fit a file with {ds.count} band(s)")
    return display


def _read_window(ds, box: Box, out_size: tuple[int, int], display: Display) -> np.ndarray:
    """(h, w, 3) uint8 of ``box`` from a rasterio dataset through ``display`` (bands, stretch; masked pixels 0),
    decimated on read when far larger than needed."""
    from rasterio.enums import Resampling
    from rasterio.windows import Window

    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    # Read at most 2x the output size; overviews make this cheap for huge windows.
    scale = min(1.0, 2.0 * max(out_size) / max(w, h))
    uniq, pos = unique_bands(display.bands)
    shape = (len(uniq), max(1, round(h * scale)), max(1, round(w * scale)))
    try:
        arr = ds.read(uniq, window=Window(x0, y0, w, h), out_shape=shape, resampling=Resampling.average, masked=True)
    except Exception as exc:
        raise RasterError(f"truncated or corrupt image data: {str(exc).splitlines()[0][:160]}") from exc
    data, mask = np.ma.getdata(arr)[pos], np.ma.getmaskarray(arr)[pos]
    # A pixel is masked (black) where all its display bands are, as GDAL's dataset mask reads nodata.
    return to_uint8(data, display, mask.all(axis=0) if mask.any() else None)


class TiffRaster:
    """A (Geo)TIFF read by window through rasterio; a URL is read under ``gdal_env`` (every read, in its thread)."""

    format = "tiff"

    def __init__(self, path: remote.Source, bands: str | None = None, display: Display | None = None) -> None:
        self._env = lambda: remote.read_env(path)
        self._ds = _open_tiff(path)
        try:
            with self._env():
                self.display = _check_display(display, self._ds) if display else decide_display([self._ds], bands)
                self.width, self.height = self._ds.width, self._ds.height
                self.georef = _georef(self._ds)
                self.datetime = _tiff_datetime(self._ds.tags().get("TIFFTAG_DATETIME"))
                self.transform, self.crs = self._ds.transform, self._ds.crs
                self.thumbnail(256)  # decode once now so corrupt data is refused here, not mid-batch
        except BaseException:
            self._ds.close()
            raise

    def read(self, box: Box, out_size: tuple[int, int]) -> Image.Image:
        with self._env():
            return Image.fromarray(_read_window(self._ds, box, out_size, self.display)).resize(out_size, Image.BICUBIC)

    def thumbnail(self, max_side: int) -> np.ndarray:
        size = thumb_size(self.width, self.height, max_side)
        with self._env():
            return np.asarray(Image.fromarray(_read_window(self._ds, (0, 0, self.width, self.height), size, self.display)).resize(size))

    def valid_mask(self, max_side: int) -> np.ndarray | None:
        with self._env():
            if all_valid(self._ds):
                return None
            return tile_mask(self._ds, (0, 0, self.width, self.height), thumb_size(self.width, self.height, max_side))

    def close(self) -> None:
        self._ds.close()


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
                datasets.append(_open_tiff(p))
            self._setup(paths, datasets)
            self.display = (_check_display(display, datasets[0]) if display
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
        self.datetime = _tiff_datetime(first.tags().get("TIFFTAG_DATETIME"))

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
            part = _read_window(t.ds, (ix0 - t.col, iy0 - t.row, ix1 - t.col, iy1 - t.row), (ox1 - ox0, oy1 - oy0),
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


def open_raster(paths: list[remote.Source], bands: str | None = None, display: Display | dict | None = None) -> Raster:
    """Open one image file, or several GeoTIFF tiles as a mosaic; raise RasterError with the reason.

    ``bands``: the ``--bands`` option (see ``geoseek.views.bands``); ``display``: a recorded ``Display`` (or its
    JSON dict) to read through instead of deciding one, so an indexed image is shown as it was indexed.
    """
    if isinstance(display, dict):
        display = Display.model_validate(display)
    if any(remote.is_remote(p) for p in paths):
        if len(paths) > 1 or remote.url_suffix(paths[0]) not in TIFF_SUFFIXES:
            raise RasterError("an http(s) source is one GeoTIFF (.tif, .tiff); remote tiles are not mosaicked")
        return TiffRaster(paths[0], bands, display)
    paths = [Path(p) for p in paths]
    for p in paths:
        if not p.is_file():
            raise RasterError("file not found")
        if p.stat().st_size == 0:
            raise RasterError("empty file (0 bytes)")
        if p.suffix.lower() not in IMAGE_SUFFIXES:
            raise RasterError(f"unsupported format '{p.suffix or p.name}'; supported: {', '.join(sorted(IMAGE_SUFFIXES))}")
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
