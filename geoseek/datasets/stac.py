"""STAC in: an Item, an ItemCollection (``items.geojson``), a Catalog or a Collection becomes one
image per Item, read through pystac.

Each image keeps its Item's id, datetime (used by the date filter instead of the raster's own
tags), bbox, collection (the collection filter) and self link (results link back to it), in
``extra["stac"]``. The asset indexed is ``--asset NAME`` when given, else ``visual``, else the
first asset with the ``visual`` role, else the first image asset whose ``eo:bands`` (or
``bands``) name red, green and blue, else three one-band GeoTIFF assets named red, green and blue
(Landsat's ``SR_B4``/``SR_B3``/``SR_B2``, Sentinel-2's ``red``/``green``/``blue``), read stacked as one RGB image
(``geoseek.views.stack``; ``--asset R,G,B`` names them). An Item without one is skipped with its reason. An asset at an
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

    files: tuple[Source, ...]  # a local Path or the asset's http(s) URL; three (R, G, B) for band assets
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


RGB = ("red", "green", "blue")


def _band_names(asset) -> list[str]:
    extra = asset.extra_fields
    bands = extra.get("eo:bands") or extra.get("bands") or []
    return [(b.get("common_name") or b.get("name") or "").lower() for b in bands if isinstance(b, dict)]


def _is_tiff(asset) -> bool:
    media = (asset.media_type or "").lower()
    return "tiff" in media or asset.href.split("?")[0].lower().endswith((".tif", ".tiff"))


def _band_assets(assets: dict) -> tuple[str, ...] | None:
    """The keys of three one-band GeoTIFF assets named red, green, blue (in that order), or None."""
    keys = []
    for colour in RGB:
        found = [k for k, a in assets.items() if _band_names(a) == [colour] and _is_tiff(a)]
        if not found:
            return None
        keys.append(found[0])
    return tuple(keys)


def pick_asset(item, asset: str | None) -> tuple[tuple[str, ...] | None, str]:
    """(the asset key to index, or three band assets' keys R, G, B; None when there is none) and, when None, why not."""
    assets = item.assets
    if asset is not None:
        keys = tuple(k.strip() for k in asset.split(","))
        missing = [k for k in keys if k not in assets]
        if len(keys) not in (1, 3) or missing:
            why = (f"no asset '{missing[0]}'" if missing else f"--asset {asset} names {len(keys)} assets; give one, or three (R,G,B)")
            return None, f"{why} (it has: {', '.join(sorted(assets))[:200]})"
        return keys, ""
    if "visual" in assets:
        return ("visual",), ""
    for key, a in assets.items():
        if "visual" in (a.roles or []):
            return (key,), ""
    for key, a in assets.items():
        if (a.media_type or "").startswith("image/") and set(RGB) <= set(_band_names(a)):
            return (key,), ""
    keys = _band_assets(assets)
    if keys:
        return keys, ""
    return None, ("no visual asset, no asset with red, green and blue bands and no one-band GeoTIFF assets named "
                  "red, green and blue; pass --asset NAME (or --asset R,G,B)")


def _href(item, key: str) -> str:
    raw = item.assets[key].href
    # An absolute href (a URL, or a path from /) is the file; only a relative one resolves against the Item.
    return raw if "://" in raw or raw.startswith("/") else (item.assets[key].get_absolute_href() or raw)


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
        keys, why = pick_asset(item, asset)
        if keys is None:
            skipped.append(SkippedInput(path=where, reason=why))
            continue
        hrefs = [_href(item, k) for k in keys]
        stored = [(k, h) for k, h in zip(keys, hrefs) if h.startswith(("s3://", "gs://"))]
        if stored:
            skipped.append(SkippedInput(path=where, reason=f"asset '{stored[0][0]}' is in object storage ({stored[0][1][:120]}); "
                                                           "only local files and http(s) URLs are read"))
            continue
        files = tuple(h if is_remote(h) else Path(h.removeprefix("file://")) for h in hrefs)
        self_href = item.get_self_href() or str(path)
        stac = {"id": item.id, "collection": item.collection_id, "datetime": _utc(item), "bbox": item.bbox,
                "self": self_href, "asset": ",".join(keys)}
        items.append(StacImage(files, item.collection_id or path.stem, stac))
    log.info("%s: %d STAC item(s), %d skipped", path, len(items), len(skipped))
    return items, skipped
