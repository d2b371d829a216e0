"""Levels (global, region, object) and per-level weights: the one type of each, parsed here only."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from geoseek.schemas.errors import LevelError

Level = Literal["global", "region", "object"]
LEVELS: tuple[Level, ...] = ("global", "region", "object")

T = TypeVar("T")


def parse_levels(value: str | Sequence[str] | None, available: Sequence[str] = LEVELS) -> list[Level]:
    """'region, global' or ['region', 'global'] -> ['global', 'region'] (canonical order, no repeats).

    None or empty means every level in ``available`` (an index's levels). Raises LevelError when a
    name is unknown, not in ``available``, or 'global' is missing (every other level pools with it).
    """
    if value is None or (isinstance(value, str) and not value.strip()) or (not isinstance(value, str) and not value):
        names = list(available)
    else:
        names = [v.strip() for v in value.split(",")] if isinstance(value, str) else [str(v).strip() for v in value]
        names = [n for n in names if n]
    unknown = [n for n in names if n not in LEVELS]
    if unknown:
        raise LevelError(f"unknown level(s) {', '.join(unknown)}; levels are {', '.join(LEVELS)}")
    if "global" not in names or any(n not in available for n in names):
        raise LevelError(f"levels must include 'global' and only use this index's levels {','.join(available)}; "
                         f"got {','.join(names)}")
    return [lv for lv in LEVELS if lv in names]


class LevelWeights(BaseModel):
    """Weights of the global, region and object terms of a per-level sum (fusion, or the training loss).

    JSON spells the first field ``global`` (a Python keyword, hence ``global_`` here).
    """

    model_config = ConfigDict(populate_by_name=True, frozen=True)
    global_: float = Field(alias="global", ge=0.0, le=100.0)
    region: float = Field(ge=0.0, le=100.0)
    object: float = Field(ge=0.0, le=100.0)

    @classmethod
    def of(cls, g: float, r: float, o: float) -> "LevelWeights":
        return cls(**{"global": g, "region": r, "object": o})

    @classmethod
    def parse(cls, text: str, option: str = "--weights") -> "LevelWeights":
        """'g,r,o' (three non-negative numbers, not all zero) -> LevelWeights; LevelError names ``option``."""
        try:
            parts = [float(x) for x in text.split(",")]
        except ValueError:
            parts = []
        if len(parts) != 3 or any(p < 0 or p > 100 or not math.isfinite(p) for p in parts) or sum(parts) <= 0:
            raise LevelError(f"{option} '{text[:60]}' must be three non-negative numbers g,r,o (at most 100), not all zero")
        return cls.of(*parts)

    def as_dict(self) -> dict[Level, float]:
        return {"global": self.global_, "region": self.region, "object": self.object}

    def normalised(self, levels: Sequence[Level]) -> dict[Level, float]:
        """The weights of ``levels`` only, scaled to sum to 1; LevelError when they sum to zero."""
        raw = self.as_dict()
        used = {lv: raw[lv] for lv in levels}
        total = sum(used.values())
        if total <= 0:
            raise LevelError(f"fusion weights for levels {','.join(levels)} sum to zero")
        return {lv: w / total for lv, w in used.items()}

    @classmethod
    def from_mapping(cls, weights: Mapping[str, float]) -> "LevelWeights":
        """{'global': g, 'region': r, 'object': o} (e.g. a checkpoint's or a result file's) -> LevelWeights."""
        return cls.of(float(weights["global"]), float(weights["region"]), float(weights["object"]))


DEFAULT_LEVEL_WEIGHTS = LevelWeights.of(0.5, 0.3, 0.2)  # when neither the model nor the index says otherwise

# What a search ranks against what: a caption query ranking images, an image query ranking captions, an image
# query ranking images.
Direction = Literal["text_to_image", "image_to_text", "image_to_image"]
DIRECTIONS: tuple[Direction, ...] = ("text_to_image", "image_to_text", "image_to_image")


class FusionWeights(BaseModel):
    """The level weights of each search direction, each tuned on its own (``geoseek bench tune-fusion``).

    One triple does not serve all three: on RSICD val the object level (token-wise late interaction
    over grid cells) helps a caption find its image and hurts an image find its captions.
    A bare ``{"global", "region", "object"}`` mapping, what manifests and checkpoints held before
    directions, reads as the same weights for every direction.
    """

    model_config = ConfigDict(frozen=True)
    text_to_image: LevelWeights
    image_to_text: LevelWeights
    image_to_image: LevelWeights

    @model_validator(mode="before")
    @classmethod
    def _one_for_every_direction(cls, data: object) -> object:
        if isinstance(data, LevelWeights):
            return {d: data for d in DIRECTIONS}
        if isinstance(data, Mapping) and {"global", "region", "object"} & set(data):
            return {d: data for d in DIRECTIONS}
        return data

    @classmethod
    def same(cls, weights: LevelWeights) -> "FusionWeights":
        """``weights`` for every direction."""
        return cls(**{d: weights for d in DIRECTIONS})

    def of(self, direction: Direction) -> LevelWeights:
        return getattr(self, direction)

    def as_dict(self) -> dict[Direction, dict[Level, float]]:
        return {d: self.of(d).as_dict() for d in DIRECTIONS}

    @classmethod
    def parse(cls, text: str, option: str = "--weights") -> "FusionWeights":
        """'g,r,o' (every direction) or 'text_to_image=g,r,o;image_to_text=g,r,o;image_to_image=g,r,o' (all three
        named) -> FusionWeights; LevelError names ``option``."""
        if "=" not in text:
            return cls.same(LevelWeights.parse(text, option))
        parts: dict[str, LevelWeights] = {}
        for part in filter(None, (p.strip() for p in text.split(";"))):
            name, _, value = part.partition("=")
            name = name.strip()
            if name not in DIRECTIONS or name in parts:
                raise LevelError(f"{option}: '{name[:40]}' is not a direction, or is named twice; directions are "
                                 f"{', '.join(DIRECTIONS)}")
            parts[name] = LevelWeights.parse(value.strip(), f"{option} {name}")
        missing = [d for d in DIRECTIONS if d not in parts]
        if missing:
            raise LevelError(f"{option} names directions but not {', '.join(missing)}; name all three, or give one g,r,o "
                             "for every direction")
        return cls(**parts)

    def spec(self) -> str:
        """The text ``parse`` reads back into these weights."""
        return ";".join(f"{d}=" + ",".join(f"{w:g}" for w in self.of(d).as_dict().values()) for d in DIRECTIONS)


DEFAULT_FUSION = FusionWeights.same(DEFAULT_LEVEL_WEIGHTS)
