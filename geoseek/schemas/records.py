"""Records reported by the indexer: georeference, skipped inputs, index summary."""
from __future__ import annotations

from pydantic import BaseModel, Field


class Georef(BaseModel):
    """Georeference of a raster: native CRS bounds, WGS84 bounds and ground sample distance."""

    crs: str
    bounds: tuple[float, float, float, float] = Field(description="minx, miny, maxx, maxy in `crs` units")
    bounds_wgs84: tuple[float, float, float, float] = Field(description="west, south, east, north in degrees")
    gsd: tuple[float, float] = Field(description="pixel size (x, y) in `crs` units")


class SkippedInput(BaseModel):
    path: str
    reason: str


class IndexInfo(BaseModel):
    """What `geoseek info --json` prints."""

    index: str
    version: str | None
    versions: list[str]
    images: int
    captions: int
    views: dict[str, int]
    views_per_image: dict[str, int] = Field(description="histogram: number of views -> number of images")
    model: dict | None
    skipped: list[SkippedInput]
    pending_images: int = Field(0, description="images embedded by an unfinished run, not yet searchable")
