"""Search requests and responses, shared by the engine, the CLI, the API and the UI."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    field_validator,
    model_serializer,
)

from geoseek.schemas.levels import LEVELS, Level, LevelWeights, parse_levels

MAX_QUERY_CHARS = 1000
MAX_K = 1000
MAX_COLLECTIONS = 100  # entries of a request's ``collections`` list
MAX_COLLECTION_CHARS = 200  # characters of one collection name

# C0 and C1 control characters (Unicode category Cc) but tab, newline and carriage return, and
# lone surrogates (not text; they cannot be encoded).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_LINE_BREAKS = re.compile("[\t\n\r]")


def check_clean(value: str, name: str) -> str:
    """``value`` unchanged, or ValueError('<name> contains control characters') for C0/C1 controls other
    than tab, newline and carriage return (and for unpaired surrogates)."""
    if _CONTROL.search(value):
        raise ValueError(f"{name} contains control characters")
    if _SURROGATE.search(value):
        raise ValueError(f"{name} contains unpaired surrogates (not valid text)")
    return value


def _clean_collection(value: str) -> str:
    if _LINE_BREAKS.search(value):
        raise ValueError("collection names contain control characters")
    return check_clean(value, "collection names")


CollectionName = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=MAX_COLLECTION_CHARS),
                           AfterValidator(_clean_collection)]


SHAPES_DOC = ("Also return each image hit's exact WGS84 GeoJSON Polygons (footprint, best region and object boxes) "
              "as `shapes`, the same polygons as the GeoJSON output.")

StrictNumber = Annotated[float, Field(strict=True)]  # an int or a float; not a bool, not a string


class TextSearchRequest(BaseModel):
    """POST /v1/search/text. Types are strict (no ``true`` for k, no ``"5"``, no ``"yes"`` for refine);
    ``start``/``end`` are ISO 8601 strings; lists are capped; control characters are refused."""

    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, strict=True,
                       description="Natural-language query; tabs and line breaks count as spaces, other control "
                                   "characters are refused.")
    k: int = Field(10, ge=1, le=MAX_K, strict=True)
    levels: list[Level] = Field(default_factory=lambda: list(LEVELS), max_length=len(LEVELS))
    weights: LevelWeights | None = None
    bbox: tuple[StrictNumber, StrictNumber, StrictNumber, StrictNumber] | None = Field(
        None, description="WGS84 minx, miny, maxx, maxy")
    start: datetime | None = Field(None, description="Only images acquired at or after (ISO 8601).")
    end: datetime | None = Field(None, description="Only images acquired at or before (ISO 8601).")
    collections: list[CollectionName] = Field(default_factory=list, max_length=MAX_COLLECTIONS)
    refine: bool = Field(False, strict=True, description="Zoom refine: split the best region of the top hits and rescore.")
    shapes: bool = Field(False, strict=True, description=SHAPES_DOC)

    @field_validator("query")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        v = _LINE_BREAKS.sub(" ", check_clean(v, "query"))
        if not v.strip():
            raise ValueError("query is blank")
        return v.strip()

    @field_validator("start", "end", mode="before")
    @classmethod
    def _iso_string(cls, v: object) -> object:
        if v is not None and not isinstance(v, (str, datetime)):
            raise ValueError("must be an ISO 8601 datetime string")
        return v

    @field_validator("weights", mode="before")
    @classmethod
    def _numeric_weights(cls, v: object) -> object:
        if isinstance(v, dict):
            if set(v) - set(LEVELS):
                raise ValueError(f"weights takes only the keys {', '.join(LEVELS)}")
            if any(isinstance(w, bool) or not isinstance(w, (int, float)) for w in v.values()):
                raise ValueError("weights must be numbers")
        return v

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


class StacLink(BaseModel):
    """The STAC Item an image came from: its id, collection and self link (a URL or a file path)."""

    id: str
    collection: str | None = None
    href: str | None = None


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
    stac: StacLink | None = None  # the STAC Item the image was indexed from
    shapes: dict[str, dict[str, Any]] | None = Field(
        None, description="Only when the search asked with shapes=true: the exact WGS84 GeoJSON Polygons of the "
                          "footprint and the best region/object boxes, by kind (footprint, region, object); null for "
                          "an image without georeference. Left out of responses that did not ask.")

    @model_serializer(mode="wrap")
    def _shapes_when_asked(self, handler: SerializerFunctionWrapHandler):  # no return type: the schema stays the model's
        # Set (even to None) only when asked: a response that did not ask stays exactly as before the field existed.
        data = handler(self)
        if "shapes" not in self.model_fields_set:
            data.pop("shapes", None)
        return data


class TextHit(BaseModel):
    text_id: str
    text: str
    image_id: str  # the image of this caption (the best-scoring one when several images carry the same text)
    score: float
    level_scores: dict[str, float]
    count: int = Field(1, description="Captions in the index with this same text (case, spacing and a trailing "
                                      "full stop ignored); image->text returns each text once.")


class SearchResponse(BaseModel):
    version: str
    levels: list[Level]
    weights: dict[str, float]
    took_ms: float
    results: list[ImageHit] | list[TextHit]


class Target(BaseModel):
    target: Literal["images", "texts"] = "images"
