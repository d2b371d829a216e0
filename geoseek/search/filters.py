"""Search filters: a WGS84 bbox that must intersect a view's bounds, a datetime range, collections."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import numpy as np

from geoseek.schemas.errors import FilterError  # noqa: F401 - raised here, re-exported

if TYPE_CHECKING:  # the CLI parses filters without loading FAISS, Arrow and the catalog
    from geoseek.index.version import VersionData


@dataclass(frozen=True)
class Filters:
    bbox: tuple[float, float, float, float] | None = None  # west, south, east, north (degrees)
    start: datetime | None = None
    end: datetime | None = None
    collections: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        # Compare in naive UTC: an offset is converted, not dropped; naive inputs are taken as UTC.
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is not None:
                try:
                    object.__setattr__(self, name, value.astimezone(timezone.utc).replace(tzinfo=None))
                except (OverflowError, ValueError) as exc:
                    raise FilterError(f"{name} datetime {value} is out of range") from exc
        if self.bbox is not None:
            if len(self.bbox) != 4 or not all(np.isfinite(self.bbox)):
                raise FilterError("bbox must be four finite numbers: minx,miny,maxx,maxy (WGS84 degrees)")
            w, s, e, n = self.bbox
            if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
                raise FilterError(f"bbox {self.bbox} is not a WGS84 rectangle with minx<maxx in [-180,180] and miny<maxy in [-90,90]")
        if self.start and self.end and self.start > self.end:
            raise FilterError("datetime range start is after its end")

    @property
    def active(self) -> bool:
        return self.bbox is not None or self.start is not None or self.end is not None or bool(self.collections)


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """'minx,miny,maxx,maxy' -> floats (validated by Filters); the error repeats at most 60 characters of ``text``."""
    shown = text if len(text) <= 60 else text[:60] + "…"
    try:
        parts = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise FilterError(f"bbox '{shown}' must be four comma-separated numbers minx,miny,maxx,maxy") from None
    if len(parts) != 4:
        raise FilterError(f"bbox '{shown}' must be four comma-separated numbers minx,miny,maxx,maxy")
    return parts  # type: ignore[return-value]


def image_mask(state: VersionData, f: Filters) -> np.ndarray:
    """(n_images,) bool: images allowed by the date and collection filters."""
    imgs = state.images
    mask = np.ones(len(imgs.ids), bool)
    if f.start is not None or f.end is not None:
        dt = imgs.datetime
        known = ~np.isnat(dt)
        mask &= known
        if f.start is not None:
            mask &= dt >= np.datetime64(f.start, "s")
        if f.end is not None:
            mask &= dt <= np.datetime64(f.end, "s")
    if f.collections:
        mask &= np.isin(imgs.collection, list(f.collections))
    return mask


def view_mask(bounds: np.ndarray, image_idx: np.ndarray, allowed_images: np.ndarray, f: Filters) -> np.ndarray:
    """(n_rows,) bool: views of allowed images whose WGS84 bounds intersect the bbox (if one is given)."""
    mask = allowed_images[image_idx]
    if f.bbox is not None:
        w, s, e, n = f.bbox
        with np.errstate(invalid="ignore"):  # NaN bounds (no georeference) compare False: excluded
            mask &= (bounds[:, 0] <= e) & (bounds[:, 2] >= w) & (bounds[:, 1] <= n) & (bounds[:, 3] >= s)
    return mask
