"""/v1/images: an indexed image's record and views, its thumbnail, and crops of any box in it."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from geoseek.schemas.api import ErrorBody, ImageRecord
from geoseek.search.api.deps import EngineDep, ImageIdPath, SettingsDep, clean
from geoseek.search.api.exposure import path_map, public_record
from geoseek.search.images import image_record, parse_box, render_jpeg

router = APIRouter(prefix="/v1/images", tags=["images"])
ERRORS = {400: {"model": ErrorBody}, 401: {"model": ErrorBody}, 404: {"model": ErrorBody}, 422: {"model": ErrorBody}}
JPEG = {200: {"content": {"image/jpeg": {}}, "description": "JPEG image"}}


@router.get("/{image_id}", response_model=ImageRecord, responses=ERRORS)
def get_image_record(image_id: ImageIdPath, engine: EngineDep, settings: SettingsDep) -> ImageRecord:
    """Metadata, georeference, captions and every view (with the DRIS tree's node boxes)."""
    state = engine.state()
    return public_record(image_record(state, image_id), path_map(state, settings.paths))


@router.get("/{image_id}/thumbnail", responses={**ERRORS, **JPEG}, response_class=Response)
def thumbnail(image_id: ImageIdPath, engine: EngineDep, size: Annotated[int, Query(ge=16, le=1024)] = 256) -> Response:
    """The whole image, long side at most `size` px, as JPEG."""
    data = render_jpeg(engine.state(), image_id, None, size)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})


@router.get("/{image_id}/crop", responses={**ERRORS, **JPEG}, response_class=Response)
def crop(image_id: ImageIdPath, engine: EngineDep, settings: SettingsDep,
         box: Annotated[str, Query(max_length=80, description="x0,y0,x1,y1 in source pixels (a view's bbox)"),
                        clean("box")],
         size: Annotated[int, Query(ge=16, le=4096)] = 512) -> Response:
    """A box of the image (e.g. a result's region or object box), long side at most `size` px, as JPEG."""
    state = engine.state()
    data = render_jpeg(state, image_id, parse_box(box, state, image_id), min(size, settings.max_crop_side))
    return Response(data, media_type="image/jpeg")
