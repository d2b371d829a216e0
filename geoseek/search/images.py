"""Indexed images as the API shows them: an image's record with every view, and JPEG renders of it or of a box in it.

Pixels are read from the sources through ``geoseek.views.rasters`` (tiles of a mosaic, or one file),
so a thumbnail shows exactly what the indexer saw.
"""
from __future__ import annotations

import io

import numpy as np

from geoseek.index.version import VersionData
from geoseek.schemas.api import CaptionRecord, ImageRecord, ViewRecord
from geoseek.schemas.errors import (
    InputError,
    RasterError,
    SourceUnreadableError,
    UnknownImageError,
)
from geoseek.schemas.search import Box
from geoseek.schemas.sources import image_files
from geoseek.views.rasters import open_raster

PixelBox = tuple[int, int, int, int]  # x0, y0, x1, y1 in source pixels, x1/y1 exclusive


def _box(v) -> Box:
    return Box(x0=int(v[0]), y0=int(v[1]), x1=int(v[2]), y1=int(v[3]))


def image_index(data: VersionData, image_id: str) -> int:
    """Row of ``image_id`` in the version's image table; UnknownImageError when it is not indexed."""
    i = data.images.index_of.get(image_id)
    if i is None:
        raise UnknownImageError(image_id)
    return i


def image_record(data: VersionData, image_id: str) -> ImageRecord:
    """Metadata, georeference, captions and every view (with the DRIS tree's node boxes) of one image."""
    i = image_index(data, image_id)
    row = data.images.rows[image_id]
    views = []
    for level, d in data.levels.items():
        for r in range(int(d.starts[i]), int(d.ends[i])):
            b = d.bounds[r]
            views.append(ViewRecord(level=level, depth=int(d.depth[r]), bbox=_box(d.bbox[r]), node_box=_box(d.node_box[r]),
                                    bounds_wgs84=None if np.isnan(b).any() else [float(x) for x in b]))
    t = data.text
    captions = [CaptionRecord(text_id=t.text_ids[j], text=t.texts[j], split=row.split) for j in t.rows_of(image_id)]
    return ImageRecord(image_id=image_id, path=row.path, width=row.width, height=row.height, format=row.format,
                       collection=row.collection, split=row.split, datetime=row.datetime, crs=row.crs, bounds=row.bounds,
                       bounds_wgs84=row.bounds_wgs84, gsd=row.gsd, captions=captions, views=views)


def parse_box(text: str, data: VersionData, image_id: str) -> PixelBox:
    """'x0,y0,x1,y1' -> a box that lies inside the image, with x0 < x1 and y0 < y1 (InputError otherwise)."""
    i = image_index(data, image_id)
    try:
        x0, y0, x1, y1 = (int(v) for v in text.split(","))
    except ValueError:
        raise InputError("box must be four integers x0,y0,x1,y1") from None
    w, h = int(data.images.width[i]), int(data.images.height[i])
    if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
        raise InputError(f"box {text} is not inside the {w}x{h} image with x0<x1, y0<y1")
    return x0, y0, x1, y1


def render_jpeg(data: VersionData, image_id: str, box: PixelBox | None, size: int) -> bytes:
    """The image (or ``box`` of it) read from its source, long side at most ``size`` px, as JPEG bytes.

    SourceUnreadableError when the source moved or changed since indexing.
    """
    image_index(data, image_id)
    row = data.images.rows[image_id]
    paths = image_files(row.path, row.extra)
    try:
        raster = open_raster(paths, display=(row.extra or {}).get("display"))
    except RasterError as exc:
        raise SourceUnreadableError(f"source of image {image_id} is no longer readable: {exc}") from None
    try:
        x0, y0, x1, y1 = box or (0, 0, raster.width, raster.height)
        s = min(1.0, size / max(x1 - x0, y1 - y0))
        im = raster.read((x0, y0, x1, y1), (max(1, round((x1 - x0) * s)), max(1, round((y1 - y0) * s))))
    except RasterError as exc:
        raise SourceUnreadableError(f"source of image {image_id} is no longer readable: {exc}") from None
    finally:
        getattr(raster, "close", lambda: None)()
    buf = io.BytesIO()
    im.convert("RGB").save(buf, format="JPEG", quality=88)
    return buf.getvalue()
