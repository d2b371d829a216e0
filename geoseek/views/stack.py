"""Separate band files read as one RGB raster: a STAC Item's red, green and blue assets (Landsat, Sentinel-2).

The files (local paths or http(s) URLs, one band each, in R, G, B order) must lie on one grid: the same
CRS, transform, size and data type. They are joined by a GDAL VRT held in memory, so every read is one
windowed read of the three files (with their overviews: GDAL exposes the sources' overviews as the VRT's
own) and the rest of GeoSeek sees an ordinary 3-band GeoTIFF. The same VRT, written into the index
directory (``stacks/<image_id>.vrt``), is the image's catalog path, which QGIS or GDAL open as they are.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from contextlib import nullcontext

import numpy as np

from geoseek.datasets import remote
from geoseek.views.bands import Display
from geoseek.views.raster_base import RasterError
from geoseek.views.tiff import TiffRaster, open_tiff

COLOURS = ("Red", "Green", "Blue")


def _name(src: remote.Source) -> str:
    return remote.url_name(src) if remote.is_remote(src) else src.name


def _gdal_name(src: remote.Source) -> str:
    """How GDAL names the file inside a VRT: /vsicurl/ for a URL, the absolute path for a file."""
    return f"/vsicurl/{src}" if remote.is_remote(src) else str(src.resolve())


def _check_grid(paths: list[remote.Source], datasets: list) -> None:
    """One band per file, all on the first file's grid; RasterError naming the first file that is not."""
    if len(paths) != 3:
        raise RasterError(f"a band stack is three files (red, green, blue); got {len(paths)}")
    first = datasets[0]
    for p, ds in zip(paths, datasets):
        if ds.count != 1:
            raise RasterError(f"band file {_name(p)} has {ds.count} bands; each file of a band stack holds one")
        same = (ds.crs == first.crs and (ds.width, ds.height) == (first.width, first.height)
                and np.allclose(tuple(ds.transform)[:6], tuple(first.transform)[:6], rtol=0, atol=1e-6 * max(1.0, abs(first.res[0]))))
        if not same:
            raise RasterError(f"band files {_name(paths[0])} and {_name(p)} are not on one grid (CRS, pixel size, extent: "
                              f"{first.width}x{first.height} at {first.res[0]:g} vs {ds.width}x{ds.height} at {ds.res[0]:g})")
        if ds.dtypes[0] != first.dtypes[0]:
            raise RasterError(f"band files {_name(paths[0])} ({first.dtypes[0]}) and {_name(p)} ({ds.dtypes[0]}) differ in data type")


def stack_vrt(paths: list[remote.Source], datasets: list) -> str:
    """The VRT XML of ``paths`` (their open ``datasets``) as bands 1, 2, 3 with colour interpretation R, G, B."""
    from rasterio.dtypes import _gdal_typename

    _check_grid(paths, datasets)
    first = datasets[0]
    root = ET.Element("VRTDataset", rasterXSize=str(first.width), rasterYSize=str(first.height))
    if first.crs is not None:
        ET.SubElement(root, "SRS").text = first.crs.to_wkt()
    ET.SubElement(root, "GeoTransform").text = ", ".join(repr(v) for v in first.transform.to_gdal())
    for i, (p, ds, colour) in enumerate(zip(paths, datasets, COLOURS), 1):
        band = ET.SubElement(root, "VRTRasterBand", dataType=_gdal_typename(ds.dtypes[0]), band=str(i))
        ET.SubElement(band, "ColorInterp").text = colour
        ET.SubElement(band, "Description").text = ds.descriptions[0] or _name(p)
        if ds.nodata is not None:
            ET.SubElement(band, "NoDataValue").text = repr(float(ds.nodata))
        source = ET.SubElement(band, "SimpleSource")
        ET.SubElement(source, "SourceFilename", relativeToVRT="0").text = _gdal_name(p)
        ET.SubElement(source, "SourceBand").text = "1"
    return ET.tostring(root, encoding="unicode")


class StackedRaster(TiffRaster):
    """Three one-band files (R, G, B) on one grid, read as one 3-band raster through an in-memory VRT."""

    format = "tiff-stack"

    def __init__(self, paths: list[remote.Source], bands: str | None = None, display: Display | None = None) -> None:
        from rasterio.io import MemoryFile

        remote_any = any(remote.is_remote(p) for p in paths)
        self._env = remote.gdal_env if remote_any else nullcontext
        parts = []
        try:
            for p in paths:
                parts.append(open_tiff(p))
            with self._env():
                self.vrt_xml = stack_vrt(paths, parts)
        finally:
            for ds in parts:
                ds.close()
        self._mem = MemoryFile(self.vrt_xml.encode(), ext=".vrt")
        try:
            with self._env():
                ds = self._mem.open()
            self._setup(ds, bands, display)
        except BaseException:
            self._mem.close()
            raise
        self.display = self.display.model_copy(update={"stacked": True})

    def close(self) -> None:
        super().close()
        self._mem.close()
