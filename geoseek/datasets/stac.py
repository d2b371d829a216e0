"""STAC in: an Item, an ItemCollection (``items.geojson``), a Catalog or a Collection becomes one
image per Item, read through pystac.

Each image keeps its Item's id, datetime (used by the date filter instead of the raster's own
tags), bbox, collection (the collection filter) and self link (results link back to it), in
``extra["stac"]``. The asset indexed is ``--asset NAME`` when given, else ``visual``, else the
first asset with the ``visual`` role, else the first image asset whose ``eo:bands`` (or
``bands``) name red, green and blue. An Item without one is skipped with its reason. An asset at an
http(s) URL is read over HTTP by window (``geoseek.datasets.remote``: its id is that of the URL); s3:// and
gs:// assets are skipped with a reason.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timezone
from pathlib import Path

from geoseek.datasets.remote import Source, is_remote
from geoseek.schemas import SkippedInput

log = logging.getLogger(__name__)

STAC_TYPES = ("Feature", "FeatureCollection", "Catalog", "Collection")


@dataclass
class StacImage:
    """One Item's asset to index: the file, the Item's collection and its STAC fields (``extra["stac"]``)."""

    file: Source  # a local Path, or the asset's http(s) URL
    collection: str
    stac: dict


def is_stac(data: object) -> bool:
    """Whether a parsed JSON document is STAC (an Item, ItemCollection, Catalog or Collection)."""
    if not isinstance(data, dict) or data.get("type") not in STAC_TYPES:
        return False
    if data["type"] == "FeatureCollection":
        feats = data.get("features") or []
        return bool(feats) and all(isinstance(f, dict) and "stac_version" in f for f in feats)
    return "stac_version" in data


def _items(path: Path, data: dict) -> list:
    import pystac

    kind = data["type"]
    if kind == "Feature":
        return [pystac.Item.from_file(str(path))]
    if kind == "FeatureCollection":
        return list(pystac.ItemCollection.from_file(str(path)))
    cat = pystac.read_file(str(path))
    return list(cat.get_items(recursive=True))


def _rgb_bands(asset) -> bool:
    extra = asset.extra_fields
    bands = extra.get("eo:bands") or extra.get("bands") or []
    names = {(b.get("common_name") or b.get("name") or "").lower() for b in bands if isinstance(b, dict)}
    return {"red", "green", "blue"} <= names


def pick_asset(item, asset: str | None) -> tuple[str | None, str]:
    """(the asset key to index, or None) and, when None, why not."""
    assets = item.assets
    if asset is not None:
        return (asset, "") if asset in assets else (None, f"no asset '{asset}' (it has: {', '.join(sorted(assets))[:200]})")
    if "visual" in assets:
        return "visual", ""
    for key, a in assets.items():
        if "visual" in (a.roles or []):
            return key, ""
    for key, a in assets.items():
        if (a.media_type or "").startswith("image/") and _rgb_bands(a):
            return key, ""
    return None, ("no visual asset and no single asset with red, green and blue bands "
                  "(separate band files are not stacked yet); pass --asset NAME")


def _utc(item) -> str | None:
    """The Item's datetime (or its start_datetime) as naive UTC ISO seconds, the catalog's format."""
    when = item.datetime or item.common_metadata.start_datetime
    if when is None:
        return None
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc).replace(tzinfo=None)
    return when.isoformat(timespec="seconds")


def read_stac(path: Path, data: dict, asset: str | None = None) -> tuple[list[StacImage], list[SkippedInput]]:
    """One image per STAC Item under ``path`` (an Item, ItemCollection, Catalog or Collection json; ``data``: it parsed)."""
    items, skipped = [], []
    for item in _items(path, data):
        where = f"{path}#{item.id}"
        key, why = pick_asset(item, asset)
        if key is None:
            skipped.append(SkippedInput(path=where, reason=why))
            continue
        raw = item.assets[key].href
        # An absolute href (a URL, or a path from /) is the file; only a relative one resolves against the Item.
        href = raw if "://" in raw or raw.startswith("/") else (item.assets[key].get_absolute_href() or raw)
        if href.startswith(("s3://", "gs://")):
            skipped.append(SkippedInput(path=where, reason=f"asset '{key}' is in object storage ({href[:120]}); only local "
                                                           "files and http(s) URLs are read"))
            continue
        file = href if is_remote(href) else Path(href.removeprefix("file://"))
        self_href = item.get_self_href() or str(path)
        stac = {"id": item.id, "collection": item.collection_id, "datetime": _utc(item), "bbox": item.bbox,
                "self": self_href, "asset": key}
        items.append(StacImage(file, item.collection_id or path.stem, stac))
    log.info("%s: %d STAC item(s), %d skipped", path, len(items), len(skipped))
    return items, skipped
