"""The index manifest: everything a reader needs to interpret one index version."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal

from pydantic import BaseModel, Field

from geoseek.schemas.levels import DEFAULT_FUSION, LEVELS, FusionWeights, Level, LevelWeights  # noqa: F401 - re-exported


class DRISParams(BaseModel):
    """Coarse-to-fine view planning (DRIS) parameters.

    A node is split into 2x2 children only when it has more pixels than the encoder input
    (detail would be lost by resizing), it holds complex encoder-sized cells, and the image's
    view budget is not spent.
    """

    complexity_threshold: float = Field(
        0.04, ge=0.0, description="Mean gradient magnitude (0..1 grey levels per thumbnail px) above which an encoder-sized cell is complex."
    )
    budget_per_tile: float = Field(
        0.5, gt=0.0, description="View budget as a fraction of the uniform native-resolution tile count."
    )
    min_budget: int = Field(1, ge=1, description="Views every image may use, however small.")
    max_depth: int = Field(8, ge=0, le=16)
    cell_px: int = Field(32, ge=4, le=256, description="Thumbnail pixels per encoder-sized cell: complexity is measured at this fixed relative scale.")
    thumbnail_side: int = Field(4096, ge=64, description="Largest thumbnail long side (px); caps cell_px for huge scenes.")
    uniform: bool = Field(False, description="Uniform native-resolution tiling instead of DRIS (the baseline).")


ObjectKind = Literal["cells", "segments"]
# How many orientations of each view the image tower averages (geoseek.models.orientations): 1 upright only,
# 2 also upside down, 4 the four quarter turns, 8 those and their mirror images.
Orientations = Literal[1, 2, 4, 8]


class ObjectParams(BaseModel):
    """What the object views of an encoded view are, made from its dense patch grid.

    ``cells`` (new indexes): every cell of the grid, scored by token-wise late interaction -- what the
    MS-VLAM object loss trains (FILIP over the cells). ``segments``: k-means segments kept by saliency,
    scored as one vector each (indexes from before cells; a missing field reads as this).
    """

    views: ObjectKind = Field("segments", description="cells: every dense-grid cell; segments: k-means segments.")
    per_view: int = Field(3, ge=0, le=16, description="Most object segments kept per encoded view (segments only).")
    clusters: int = Field(4, ge=2, le=16, description="k of the spherical k-means over patch embeddings.")
    min_patches: int = Field(2, ge=1, description="Segments smaller than this many patches are dropped.")
    merge_cos: float = Field(0.9, ge=-1.0, le=1.0, description="Clusters whose centroids are more similar than this are one segment.")


class ModelInfo(BaseModel):
    spec: str
    id: str
    dim: int
    image_size: int
    checksum: str | None = None
    # Image vectors (indexed views and image queries alike) average this many orientations; manifests from
    # before the field read as 1, which is what they hold.
    orientations: Orientations = 1


class ViewCounts(BaseModel):
    global_: int = Field(0, alias="global")
    region: int = 0
    object: int = 0
    model_config = {"populate_by_name": True}


class LevelIndexInfo(BaseModel):
    """One FAISS file of a version: what it holds and how it searches."""

    kind: Literal["flat", "hnsw", "ivfpq"]
    count: int
    file: str
    params: dict[str, int | float | str] = {}


class IndexManifest(BaseModel):
    version: str
    created: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    geoseek_version: str
    faiss_version: str
    model: ModelInfo
    levels: list[Level]
    dris: DRISParams
    objects: ObjectParams
    # Per search direction; a manifest from before directions holds one triple, which reads as every direction's.
    fusion: FusionWeights = DEFAULT_FUSION
    images: int
    captions: int
    views: ViewCounts
    indices: dict[str, LevelIndexInfo]
    view_shards: list[str]
    text_shards: list[str]
