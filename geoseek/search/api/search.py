"""/v1/search: text -> image, and image -> image / image -> text by upload or indexed image id."""
from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from geoseek.schemas import LevelWeights
from geoseek.schemas.api import ErrorBody
from geoseek.schemas.errors import LevelError
from geoseek.schemas.search import MAX_K, SHAPES_DOC, ImageHit, SearchResponse, TextSearchRequest
from geoseek.search.api.deps import (
    MAX_ID_CHARS,
    EngineDep,
    FormInt,
    SettingsDep,
    clean,
)
from geoseek.search.api.exposure import clip, path_map, public_response
from geoseek.search.filters import Filters, parse_bbox
from geoseek.search.geojson import MEDIA_TYPE, feature_collection, hit_shapes

router = APIRouter(prefix="/v1/search", tags=["search"])
ERRORS = {400: {"model": ErrorBody}, 401: {"model": ErrorBody}, 404: {"model": ErrorBody}, 406: {"model": ErrorBody},
          413: {"model": ErrorBody}, 415: {"model": ErrorBody}, 422: {"model": ErrorBody}}
GEOJSON = {200: {"content": {"application/json": {}, MEDIA_TYPE: {}},
                 "description": f"SearchResponse, or with `Accept: {MEDIA_TYPE}` a GeoJSON FeatureCollection of the "
                                "georeferenced hits (footprints, best region and object boxes, WGS84)"}}


def _answer(request: Request, resp: SearchResponse, engine, settings, shapes: bool = False) -> SearchResponse | JSONResponse:
    """The response as the client asked for it: JSON (default), with each image hit's exact ``shapes`` when asked,
    or GeoJSON when Accept names geo+json (which carries those polygons already)."""
    state = engine.state()  # once: the path map, the shapes and the GeoJSON read one version
    public = public_response(resp, path_map(state, settings.paths))
    if MEDIA_TYPE not in request.headers.get("accept", ""):
        if not shapes:
            return public
        hits = [h.model_copy(update={"shapes": hit_shapes(h, state.images)}) if isinstance(h, ImageHit) else h
                for h in public.results]
        return public.model_copy(update={"results": hits})
    # Caption results never get here: search_image refuses GeoJSON for target=texts with a 406.
    return JSONResponse(feature_collection(public, state.images), media_type=MEDIA_TYPE)


@router.post("/text", response_model=SearchResponse, responses={**ERRORS, **GEOJSON})
async def search_text(req: TextSearchRequest, request: Request, engine: EngineDep, settings: SettingsDep) -> SearchResponse:
    """Text -> image with hierarchical fusion. `levels: ["global"]` is the global-only baseline."""
    filters = Filters(bbox=req.bbox, start=req.start, end=req.end, collections=tuple(req.collections))
    resp = await run_in_threadpool(engine.search_text, req.query, k=req.k, levels=list(req.levels), weights=req.weights,
                                   filters=filters, refine=req.refine)
    return _answer(request, resp, engine, settings, shapes=req.shapes)


async def _read_capped(upload: UploadFile, cap: int) -> bytes:
    data = await upload.read(cap + 1)
    if len(data) > cap:
        raise HTTPException(413, f"upload is larger than the {cap:,}-byte limit")
    return data


@router.post("/image", response_model=SearchResponse, responses={**ERRORS, **GEOJSON})
async def search_image(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    file: Annotated[UploadFile | None, File(description="Query image (JPEG, PNG, WebP, BMP, TIFF).")] = None,
    image_id: Annotated[str | None, Form(max_length=MAX_ID_CHARS, description="Or: the id of an indexed image."),
                        clean("image_id")] = None,
    target: Annotated[Literal["images", "texts"], Form()] = "images",
    k: Annotated[int, Form(ge=1, le=MAX_K, description="Decimal digits."), FormInt] = 10,
    levels: Annotated[str | None, Form(max_length=40, description="Comma list, e.g. global,region,object"),
                      clean("levels")] = None,
    weights: Annotated[str | None, Form(max_length=60, description="g,r,o"), clean("weights")] = None,
    bbox: Annotated[str | None, Form(max_length=120, description="WGS84 minx,miny,maxx,maxy"), clean("bbox")] = None,
    start: Annotated[datetime | None, Form(description="Only images acquired at or after (ISO 8601).")] = None,
    end: Annotated[datetime | None, Form(description="Only images acquired at or before (ISO 8601).")] = None,
    distinct: Annotated[bool, Form(description="target=texts: each caption text once, with its `count` (default); "
                                               "false returns every caption that carries it.")] = True,
    shapes: Annotated[bool, Form(description=SHAPES_DOC + " target=images only.")] = False,
) -> SearchResponse:
    """Similar images (`target=images`) or captions (`target=texts`) for an uploaded image or an indexed image id."""
    if target == "texts" and MEDIA_TYPE in request.headers.get("accept", ""):
        raise HTTPException(406, "GeoJSON is for image results; captions (target=texts) have no footprint")
    if target == "texts" and shapes:
        raise HTTPException(422, "shapes is for image results; captions (target=texts) have no footprint")
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        raise HTTPException(415, "send a form (multipart/form-data with a 'file' part, or an 'image_id' field)")
    if (file is None) == (image_id is None):
        raise HTTPException(422, "give exactly one of 'file' or 'image_id'")
    if file is not None:
        if file.content_type and not (file.content_type.startswith("image/") or file.content_type == "application/octet-stream"):
            raise HTTPException(415, f"file content type '{clip(file.content_type, 60)}' is not an image")
        query: bytes | str = await _read_capped(file, settings.max_upload_bytes)
    else:
        query = image_id
    filters = Filters(bbox=parse_bbox(bbox) if bbox else None, start=start, end=end)
    try:
        w = LevelWeights.parse(weights, "weights") if weights else None
    except LevelError as exc:  # a malformed form field, like any other invalid field: 422
        raise HTTPException(422, str(exc)) from None
    resp = await asyncio.to_thread(engine.search_image, query, target=target, k=k, levels=levels, weights=w,
                                   filters=filters, distinct=distinct)
    return _answer(request, resp, engine, settings, shapes=shapes)
