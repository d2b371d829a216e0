"""Search results as GeoJSON (RFC 7946): a FeatureCollection a GIS can draw.

Each georeferenced image hit becomes up to three Features, all carrying the hit's rank, image id,
scores and properties: its footprint (``kind: footprint``), its best region box (``kind: region``)
and its best object box (``kind: object``). Polygons are in WGS84 longitude/latitude. They are
exact through the raster's geotransform: every vertex, including points added along each edge,
goes pixel -> native CRS by the affine transform and native CRS -> WGS84 by a true coordinate
transformation. A UTM box therefore comes out as the slightly curved, rotated shape it really
is, not a rectangle interpolated between corner coordinates.

Hits without georeference (plain JPEGs, TIFFs without a CRS) have no place on a map. They are
left out, and the collection says how many (``not_georeferenced``).

The same polygons, per hit, are what the JSON response's ``shapes`` carries when a search asks
for them (``hit_shapes``): one call gives the ranked hits and their exact shapes.
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np

from geoseek.index.version import ImageTable
from geoseek.schemas.search import Box, ImageHit, SearchResponse

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/geo+json"
EDGE_POINTS = 8  # vertices per box edge: enough to follow a projection's curvature at scene scale


def _pixel_ring(box: Box, points: int = EDGE_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """A closed ring (counter-clockwise on a north-up map) of pixel coordinates along ``box``'s edges."""
    t = np.linspace(0.0, 1.0, points, endpoint=False)
    x0, y0, x1, y1 = float(box.x0), float(box.y0), float(box.x1), float(box.y1)
    # Pixel y grows southwards: bottom edge west->east, right edge south->north, top east->west, left north->south.
    xs = np.concatenate([x0 + (x1 - x0) * t, np.full_like(t, x1), x1 - (x1 - x0) * t, np.full_like(t, x0), [x0]])
    ys = np.concatenate([np.full_like(t, y1), y1 - (y1 - y0) * t, np.full_like(t, y0), y0 + (y1 - y0) * t, [y1]])
    return xs, ys


def box_polygon(box: Box, transform, crs: str) -> dict[str, Any]:
    """GeoJSON Polygon (WGS84) of a pixel ``box`` of a raster with affine ``transform`` in ``crs``."""
    from rasterio.warp import transform as reproject

    px, py = _pixel_ring(box)
    ex, ey = transform @ (px, py)  # affine: pixel -> native CRS
    lon, lat = reproject(crs, "EPSG:4326", list(np.asarray(ex, float)), list(np.asarray(ey, float)))
    return {"type": "Polygon", "coordinates": [[[round(x, 9), round(y, 9)] for x, y in zip(lon, lat)]]}


def image_transform(row) -> tuple[Any, str] | None:
    """(affine transform, CRS) of an indexed image from its catalog row, or None without georeference.

    The catalog keeps native bounds and the pixel size of the (north-up) raster; the transform is
    rebuilt from them exactly (rasterio.transform.from_bounds).
    """
    if row is None or not row.crs or not row.bounds:
        return None
    from rasterio.transform import from_bounds

    left, bottom, right, top = row.bounds
    return from_bounds(left, bottom, right, top, int(row.width), int(row.height)), row.crs


def _props(hit: ImageHit, rank: int, kind: str, box: Box | None) -> dict[str, Any]:
    props = {"kind": kind, "rank": rank, "image_id": hit.image_id, "score": hit.score, "level_scores": hit.level_scores,
             "path": hit.path, "collection": hit.collection, "datetime": hit.datetime, "width": hit.width,
             "height": hit.height}
    if box is not None:
        props["pixel_box"] = [box.x0, box.y0, box.x1, box.y1]
    return props


def hit_shapes(hit: ImageHit, images: ImageTable) -> dict[str, dict[str, Any]] | None:
    """The exact WGS84 GeoJSON Polygons of an image hit, by kind: ``footprint`` (the whole image), and ``region`` and
    ``object`` (its best boxes) when it has them. None when the image has no georeference.

    ``images``: the index version's image table the hit came from (for its CRS, bounds and size).
    """
    geo = image_transform(images.rows.get(hit.image_id))
    if geo is None:
        return None
    transform, crs = geo
    whole = Box(x0=0, y0=0, x1=hit.width, y1=hit.height)
    return {kind: box_polygon(box, transform, crs)
            for kind, box in (("footprint", whole), ("region", hit.region_box), ("object", hit.object_box)) if box is not None}


def feature_collection(resp: SearchResponse, images: ImageTable) -> dict[str, Any]:
    """The GeoJSON FeatureCollection of a text->image or image->image response.

    ``images``: the index version's image table (for each hit's CRS, bounds and size). Raises
    ValueError for caption results, which have no place.
    """
    features: list[dict[str, Any]] = []
    skipped = 0
    for rank, hit in enumerate(resp.results, 1):
        if not isinstance(hit, ImageHit):
            raise ValueError("GeoJSON is for image results; captions (target=texts) have no footprint")
        shapes = hit_shapes(hit, images)
        if shapes is None:
            skipped += 1
            continue
        boxes = {"footprint": None, "region": hit.region_box, "object": hit.object_box}
        features.extend({"type": "Feature", "id": f"{hit.image_id}:{kind}", "geometry": geometry,
                         "properties": _props(hit, rank, kind, boxes[kind])} for kind, geometry in shapes.items())
    return {"type": "FeatureCollection", "features": features, "version": resp.version, "levels": list(resp.levels),
            "weights": resp.weights, "took_ms": resp.took_ms, "hits": len(resp.results), "not_georeferenced": skipped}
