"""/v1/images: an indexed image's record and views, its thumbnail, and crops of any box in it."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Annotated

import numpy as np
from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response
from PIL import Image

from geoseek.views.rasters import RasterError, open_raster
from geoseek.schemas.api import CaptionRecord, ErrorBody, ImageRecord, ViewRecord
from geoseek.schemas.search import Box
from geoseek.search.api.deps import EngineDep, SettingsDep
from geoseek.search.engine import UnknownImageError
from geoseek.search.state import IndexState

router = APIRouter(prefix="/v1/images", tags=["images"])
ERRORS = {400: {"model": ErrorBody}, 401: {"model": ErrorBody}, 404: {"model": ErrorBody}, 422: {"model": ErrorBody}}
JPEG = {200: {"content": {"image/jpeg": {}}, "description": "JPEG image"}}


def _box(v) -> Box:
    return Box(x0=int(v[0]), y0=int(v[1]), x1=int(v[2]), y1=int(v[3]))


def _index_of(state: IndexState, image_id: str) -> int:
    i = state.images.index_of.get(image_id)
    if i is None:
        raise UnknownImageError(image_id)
    return i


@router.get("/{image_id}", response_model=ImageRecord, responses=ERRORS)
def image_record(image_id: str, engine: EngineDep) -> ImageRecord:
    """Metadata, georeference, captions and every view (with the DRIS tree's node boxes)."""
    state = engine.state()
    i = _index_of(state, image_id)
    row = state.images.rows[image_id]
    views = []
    for level, d in state.levels.items():
        for r in range(int(d.starts[i]), int(d.ends[i])):
            b = d.bounds[r]
            views.append(ViewRecord(level=level, depth=int(d.depth[r]), bbox=_box(d.bbox[r]), node_box=_box(d.node_box[r]),
                                    bounds_wgs84=None if np.isnan(b).any() else [float(x) for x in b]))
    t = state.text
    captions = [CaptionRecord(text_id=t.text_ids[j], text=t.texts[j], split=row.split) for j in t.rows_of(image_id)]
    return ImageRecord(image_id=image_id, path=row.path, width=row.width, height=row.height, format=row.format,
                       collection=row.collection, split=row.split, datetime=row.datetime, crs=row.crs, bounds=row.bounds,
                       bounds_wgs84=row.bounds_wgs84, gsd=row.gsd, captions=captions, views=views)


def _render(state: IndexState, image_id: str, box: tuple[int, int, int, int] | None, size: int) -> bytes:
    row = state.images.rows[image_id]
    paths = [Path(p) for p in (row.extra or {}).get("tiles", [row.path])]
    try:
        raster = open_raster(paths)
    except RasterError as exc:
        raise HTTPException(404, f"source of image {image_id} is no longer readable: {exc}") from None
    try:
        x0, y0, x1, y1 = box or (0, 0, raster.width, raster.height)
        s = min(1.0, size / max(x1 - x0, y1 - y0))
        im = raster.read((x0, y0, x1, y1), (max(1, round((x1 - x0) * s)), max(1, round((y1 - y0) * s))))
    except RasterError as exc:
        raise HTTPException(404, f"source of image {image_id} is no longer readable: {exc}") from None
    finally:
        getattr(raster, "close", lambda: None)()
    buf = io.BytesIO()
    im.convert("RGB").save(buf, format="JPEG", quality=88)
    return buf.getvalue()


@router.get("/{image_id}/thumbnail", responses={**ERRORS, **JPEG}, response_class=Response)
def thumbnail(image_id: str, engine: EngineDep, size: Annotated[int, Query(ge=16, le=1024)] = 256) -> Response:
    """The whole image, long side at most `size` px, as JPEG."""
    state = engine.state()
    _index_of(state, image_id)
    data = _render(state, image_id, None, size)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})


@router.get("/{image_id}/crop", responses={**ERRORS, **JPEG}, response_class=Response)
def crop(image_id: str, engine: EngineDep, settings: SettingsDep,
               box: Annotated[str, Query(max_length=80, description="x0,y0,x1,y1 in source pixels (a view's bbox)")],
               size: Annotated[int, Query(ge=16, le=4096)] = 512) -> Response:
    """A box of the image (e.g. a result's region or object box), long side at most `size` px, as JPEG."""
    state = engine.state()
    i = _index_of(state, image_id)
    try:
        x0, y0, x1, y1 = (int(v) for v in box.split(","))
    except ValueError:
        raise HTTPException(400, "box must be four integers x0,y0,x1,y1") from None
    w, h = int(state.images.width[i]), int(state.images.height[i])
    if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
        raise HTTPException(400, f"box {box} is not inside the {w}x{h} image with x0<x1, y0<y1")
    data = _render(state, image_id, (x0, y0, x1, y1), min(size, settings.max_crop_side))
    return Response(data, media_type="image/jpeg")
