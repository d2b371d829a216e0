"""Pydantic models shared by indexer, search, API and UI. Imports nothing heavy."""
from geoseek.schemas.bench import MatchRule
from geoseek.schemas.manifest import (
    LEVELS,
    DRISParams,
    FusionWeights,
    IndexManifest,
    LevelIndexInfo,
    ModelInfo,
    ObjectParams,
    ViewCounts,
)
from geoseek.schemas.records import Georef, IndexInfo, SkippedInput

__all__ = [
    "LEVELS",
    "DRISParams",
    "FusionWeights",
    "Georef",
    "IndexInfo",
    "IndexManifest",
    "LevelIndexInfo",
    "MatchRule",
    "ModelInfo",
    "ObjectParams",
    "SkippedInput",
    "ViewCounts",
]
