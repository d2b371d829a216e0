"""Pydantic models shared by indexer, search, API and UI. Imports nothing heavy."""
from geoseek.schemas.bench import MatchRule
from geoseek.schemas.errors import GeoSeekError
from geoseek.schemas.levels import (
    DEFAULT_FUSION,
    DIRECTIONS,
    LEVELS,
    Direction,
    FusionWeights,
    Level,
    LevelWeights,
    parse_levels,
)
from geoseek.schemas.manifest import (
    DRISParams,
    IndexManifest,
    LevelIndexInfo,
    ModelInfo,
    ObjectParams,
    ViewCounts,
)
from geoseek.schemas.records import Georef, IndexInfo, SkippedInput

__all__ = [
    "DEFAULT_FUSION",
    "DIRECTIONS",
    "Direction",
    "FusionWeights",
    "LEVELS",
    "DRISParams",
    "GeoSeekError",
    "Level",
    "LevelWeights",
    "Georef",
    "IndexInfo",
    "IndexManifest",
    "LevelIndexInfo",
    "MatchRule",
    "ModelInfo",
    "ObjectParams",
    "SkippedInput",
    "ViewCounts",
    "parse_levels",
]
