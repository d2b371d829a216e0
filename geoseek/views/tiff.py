"""One (Geo)TIFF read by window through rasterio: a local file, or an http(s) URL (``geoseek.datasets.remote``)."""
from __future__ import annotations

import numpy as np
from PIL import Image

from geoseek.datasets import remote
from geoseek.schemas import Georef
from geoseek.views.bands import (
    Display,
    all_valid,
    decide_display,
    thumb_size,
    tile_mask,
    to_uint8,
    unique_bands,
)
from geoseek.views.raster_base import (
    MAX_WINDOWED_PIXELS,
    Box,
    RasterError,
    check_size,
    tiff_datetime,
)


STRIP_THUMBNAILS_FROM = 1536  # px, long side: larger thumbnails (scenes of about 4,000 px and up) are read in strips
STRIP_ROWS = 256  # output rows per strip


def georef(ds) -> Georef | None:
    """Georeference of an open rasterio dataset, or None when it has no CRS."""
    if ds.crs is None:
        return None
    from rasterio.warp import transform_bounds

    b = ds.bounds
    wgs = transform_bounds(ds.crs, "EPSG:4326", *b, densify_pts=21)
    return Georef(crs=ds.crs.to_string(), bounds=tuple(b), bounds_wgs84=tuple(wgs), gsd=(abs(ds.res[0]), abs(ds.res[1])))


def open_tiff(path: remote.Source):
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
        check_size(size, ds.width, ds.height, MAX_WINDOWED_PIXELS)
        if ds.count < 1:
            raise RasterError("unsupported band layout: the file has no bands")
    except BaseException:
        ds.close()
        raise
    return ds


def check_display(display: Display, ds) -> Display:
    """A recorded display must still fit the file (its bands exist)."""
    if max(display.bands) > ds.count:
        raise RasterError(f"recorded display bands {display.bands} do not fit a file with {ds.count} band(s)")
    return display


def read_window(ds, box: Box, out_size: tuple[int, int], display: Display) -> np.ndarray:
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
    # No mask read, and no band copy, unless needed: a large scene's thumbnail read is 48 MB per copy.
    masked = not all_valid(ds)
    try:
        arr = ds.read(uniq, window=Window(x0, y0, w, h), out_shape=shape, resampling=Resampling.average, masked=masked)
    except Exception as exc:
        raise RasterError(f"truncated or corrupt image data: {str(exc).splitlines()[0][:160]}") from exc
    data = np.ma.getdata(arr)
    if pos != list(range(len(uniq))):  # grey (one band three times) or bands out of order
        data = data[pos]
    invalid = None
    if masked:  # a pixel is masked (black) where all its display bands are, as GDAL's dataset mask reads nodata
        invalid = np.ma.getmaskarray(arr).all(axis=0)
        invalid = invalid if invalid.any() else None
    return to_uint8(data, display, invalid)


class TiffRaster:
    """A (Geo)TIFF read by window through rasterio; a URL is read under ``gdal_env`` (every read, in its thread)."""

    format = "tiff"

    def __init__(self, path: remote.Source, bands: str | None = None, display: Display | None = None) -> None:
        self._env = lambda: remote.read_env(path)
        self._setup(open_tiff(path), bands, display)

    def _setup(self, ds, bands: str | None, display: Display | None) -> None:
        """Take over the open dataset ``ds``: its display (recorded, else decided), size and georeference."""
        self._ds = ds
        try:
            with self._env():
                self.display = check_display(display, ds) if display else decide_display([ds], bands)
                self.width, self.height = ds.width, ds.height
                self.georef = georef(ds)
                self.datetime = tiff_datetime(ds.tags().get("TIFFTAG_DATETIME"))
                self.transform, self.crs = ds.transform, ds.crs
                self.thumbnail(256)  # decode once now so corrupt data is refused here, not mid-batch
        except BaseException:
            ds.close()
            raise

    def read(self, box: Box, out_size: tuple[int, int]) -> Image.Image:
        with self._env():
            return Image.fromarray(read_window(self._ds, box, out_size, self.display)).resize(out_size, Image.BICUBIC)

    def thumbnail(self, max_side: int) -> np.ndarray:
        size = thumb_size(self.width, self.height, max_side)
        with self._env():
            if max(size) <= STRIP_THUMBNAILS_FROM:
                whole = read_window(self._ds, (0, 0, self.width, self.height), size, self.display)
                return np.asarray(Image.fromarray(whole).resize(size))
            return self._thumbnail_in_strips(size)

    def _thumbnail_in_strips(self, size: tuple[int, int]) -> np.ndarray:
        """A large thumbnail read strip by strip: a 2,000 px one of a 10,000 px scene read whole holds its 4,000 px
        read and two copies (150 MB); in strips of ``STRIP_ROWS`` output rows, one strip's (6 MB)."""
        tw, th = size
        out = np.zeros((th, tw, 3), np.uint8)
        for oy in range(0, th, STRIP_ROWS):
            oh = min(STRIP_ROWS, th - oy)
            y0, y1 = round(oy * self.height / th), round((oy + oh) * self.height / th)
            part = read_window(self._ds, (0, y0, self.width, max(y1, y0 + 1)), (tw, oh), self.display)
            out[oy : oy + oh] = np.asarray(Image.fromarray(part).resize((tw, oh)))
        return out

    def valid_mask(self, max_side: int) -> np.ndarray | None:
        with self._env():
            if all_valid(self._ds):
                return None
            return tile_mask(self._ds, (0, 0, self.width, self.height), thumb_size(self.width, self.height, max_side))

    def close(self) -> None:
        self._ds.close()
