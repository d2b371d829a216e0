"""API-only response models: image records, views, health and stats."""
from __future__ import annotations

from pydantic import BaseModel

from geoseek.schemas.levels import Level
from geoseek.schemas.search import Box


class ViewRecord(BaseModel):
    level: str
    depth: int
    bbox: Box  # what the vector describes
    node_box: Box  # the quadtree node (region/global) or segment (object)
    bounds_wgs84: list[float] | None = None


class CaptionRecord(BaseModel):
    text_id: str
    text: str
    split: str | None = None


class ImageRecord(BaseModel):
    image_id: str
    path: str
    width: int
    height: int
    format: str
    collection: str
    split: str | None = None
    datetime: str | None = None
    crs: str | None = None
    bounds: list[float] | None = None
    bounds_wgs84: list[float] | None = None
    gsd: list[float] | None = None
    captions: list[CaptionRecord]
    views: list[ViewRecord]


class Health(BaseModel):
    status: str
    version: str


class Stats(BaseModel):
    version: str
    levels: list[Level]  # the view levels this index has (what a search may ask for)
    images: int
    captions: int
    views: dict[str, int]
    model: dict
    indices: dict[str, dict]
    fusion: dict[str, float]  # text->image: what a caption search uses (and the UI's sliders start from)
    fusion_by_direction: dict[str, dict[str, float]] = {}  # text_to_image, image_to_text, image_to_image
    store: str = "faiss"  # the vector store this replica searches: faiss | milvus


class ErrorBody(BaseModel):
    detail: str
