"""Search requests and responses, shared by the engine, the CLI, the API and the UI."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from geoseek.schemas.levels import LEVELS, Level, LevelWeights, parse_levels

MAX_QUERY_CHARS = 1000
MAX_K = 1000


class TextSearchRequest(BaseModel):
    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, description="Natural-language query.")
    k: int = Field(10, ge=1, le=MAX_K)
    levels: list[Level] = Field(default_factory=lambda: list(LEVELS))
    weights: LevelWeights | None = None
    bbox: tuple[float, float, float, float] | None = Field(None, description="WGS84 minx, miny, maxx, maxy")
    start: datetime | None = None
    end: datetime | None = None
    collections: list[str] = Field(default_factory=list)
    refine: bool = Field(False, description="Zoom refine: split the best region of the top hits and rescore.")

    @field_validator("query")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("query is blank")
        return v.strip()

    @field_validator("levels")
    @classmethod
    def _global_first(cls, v: list[str]) -> list[Level]:
        if not v:
            raise ValueError("levels must include 'global'")
        return parse_levels(v)


class Box(BaseModel):
    x0: int
    y0: int
    x1: int
    y1: int


class ImageHit(BaseModel):
    image_id: str
    score: float
    level_scores: dict[str, float]
    path: str
    width: int
    height: int
    collection: str
    datetime: str | None = None
    bounds_wgs84: list[float] | None = None
    region_box: Box | None = None
    object_box: Box | None = None


class TextHit(BaseModel):
    text_id: str
    text: str
    image_id: str
    score: float
    level_scores: dict[str, float]


class SearchResponse(BaseModel):
    version: str
    levels: list[Level]
    weights: dict[str, float]
    took_ms: float
    results: list[ImageHit] | list[TextHit]


class Target(BaseModel):
    target: Literal["images", "texts"] = "images"
