"""An indexing job as one typed value: what `geoseek index` was asked, and what an index was built with."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from geoseek.schemas.levels import LEVELS, Level
from geoseek.schemas.manifest import DRISParams, ObjectParams, Orientations
from geoseek.schemas.sources import as_source

FLAT_MAX = 100_000  # exact search stays under ~10 ms per query below this on 2 CPU cores
HNSW_MAX = 1_500_000  # HNSW keeps float32 vectors + graph (about 1.8 KB/view: 2.7 GB here); beyond, IVF-PQ (72 B/view,
# inverted lists memory-mapped) with exact rescoring from the column files (benchmarks/results/scale_10m.json)
DEFAULT_MODEL = "geoseek-default"

# A SRC: a local path, or an http(s) URL kept as its string (``Path`` would collapse its '//').
SourceArg = Annotated[str | Path, AfterValidator(as_source)]


class IndexJob(BaseModel):
    """The options of one indexing run (``geoseek index`` flags; ``run_index`` keywords). None: the index's own
    setting when it exists, else the default."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    sources: list[SourceArg] = Field(min_length=1)
    index: Path
    model: str | None = None
    levels: list[str] | None = None  # checked by the indexer (parse_levels), which names the option in its error
    dris: DRISParams | None = None
    objects: ObjectParams | None = None
    orientations: Orientations | None = Field(None, description="orientations averaged per view (None: the model's recommendation)")
    batch_size: int | None = Field(None, ge=1, description="views per encoder batch (None: 64 on a GPU, 16 on a CPU)")
    device: str = "auto"
    shard_size: int = Field(512, ge=1, description="images per Parquet shard (the resume unit)")
    catalog_url: str | None = None
    mosaic: bool = True
    workers: int = Field(2, ge=1, description="threads that read and crop images")
    flat_max: int = Field(FLAT_MAX, ge=0)
    hnsw_max: int = Field(HNSW_MAX, ge=0)
    progress: bool = True
    splits: list[str] | None = None
    image_dir: Path | None = None
    wait_s: float = Field(0.0, ge=0.0, description="seconds to wait for another indexer of the same index")
    engine: Literal["local", "ray"] = "local"
    ray_address: str | None = None
    bands: str | None = Field(None, description="RGB bands: '4,3,2', '1' (grey) or a preset (sentinel2, landsat, rgbn, pan)")
    asset: str | None = Field(None, max_length=200, description="the asset of each STAC Item to index")


class IndexSettings(BaseModel):
    """What an index is built with, stored as-is in its catalog (meta 'settings') and checked on every later run."""

    model: str = DEFAULT_MODEL
    model_id: str | None = None
    model_checksum: str | None = None
    levels: list[Level] = Field(default_factory=lambda: list(LEVELS))
    dris: DRISParams = Field(default_factory=DRISParams)
    # New indexes store dense-grid cells (what the object loss trains); settings stored without the field
    # (indexes from before cells) read as segments, which is what they hold.
    objects: ObjectParams = Field(default_factory=lambda: ObjectParams(views="cells"))
    # Settings stored without the field (indexes from before orientation averaging) read as 1, what they hold.
    orientations: Orientations = 1
    # Not checked against later runs: each image records the Display it was read with (catalog extra["display"]).
    bands: str | None = None
