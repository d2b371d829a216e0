"""Zoom refine (after GeoMag): look closer at the best region of the top hits.

For each of the top-N hits, the best region box is split 2x2 at native resolution (children
never upsampled: the planner's window rule), the children are encoded on the fly, and if one
matches the query better than the stored views, the hit's region score and box are updated and
the hits re-ranked. It reads source pixels at query time, so it costs encoder calls: opt-in.
"""
from __future__ import annotations

import logging

import numpy as np
from PIL import Image

from geoseek.datasets.remote import Source
from geoseek.models import Encoder
from geoseek.schemas.search import Box, ImageHit
from geoseek.schemas.sources import image_files
from geoseek.search.fusion import weighted_sum
from geoseek.search.state import IndexState
from geoseek.views.planner import encode_window
from geoseek.views.rasters import RasterError, open_raster

log = logging.getLogger(__name__)


def child_windows(box: Box, side: int, width: int, height: int) -> list[tuple[int, int, int, int]]:
    """The 2x2 children of ``box`` (source pixels) as encoder windows; [] when the box is already at
    or below native resolution for a ``side`` px encoder input."""
    w, h = box.x1 - box.x0, box.y1 - box.y0
    if w * h <= side * side:
        return []  # already at (or below) native resolution: nothing finer to see
    mx, my = box.x0 + w // 2, box.y0 + h // 2
    quads = [(box.x0, box.y0, mx, my), (mx, box.y0, box.x1, my), (box.x0, my, mx, box.y1), (mx, my, box.x1, box.y1)]
    return [encode_window(q, side, width, height) for q in quads]


def read_windows(paths: list[Source], windows: list[tuple[int, int, int, int]], side: int,
                 display: dict | None = None) -> list[Image.Image]:
    """Crops of ``windows`` from the source raster (tiles of a mosaic, or one file), resized to ``side`` px,
    read through the ``display`` recorded at indexing (bands, 8-bit scaling) when given.

    Raises RasterError when the source moved or changed since indexing.
    """
    raster = open_raster(paths, display=display)
    try:
        return [raster.read(w, (side, side)) for w in windows]
    finally:
        getattr(raster, "close", lambda: None)()


def best_children(crops_per_hit: list[list[Image.Image]], query: np.ndarray, encoder: Encoder) -> list[tuple[int, float]]:
    """Encode every hit's child crops in one batch; per hit, (index of its best child, its cosine with ``query``).

    crops_per_hit: one non-empty list of crops per hit; query: (D,) unit vector.
    """
    sims = encoder.encode_images([c for crops in crops_per_hit for c in crops]) @ query.reshape(-1)
    out, start = [], 0
    for crops in crops_per_hit:
        part, start = sims[start : start + len(crops)], start + len(crops)
        j = int(np.argmax(part))
        out.append((j, float(part[j])))
    return out


def refine_hits(state: IndexState, hits: list[ImageHit], query: np.ndarray, encoder: Encoder,
                weights: dict[str, float], top: int = 5) -> list[ImageHit]:
    """Rescore the region term of the first ``top`` hits with zoomed-in children; returns re-ranked hits.

    All children of all refined hits go through the encoder in one batch (one forward pass, not one per hit).
    """
    if "region" not in weights:
        return hits
    jobs: list[tuple[int, list[tuple[int, int, int, int]], list[Image.Image]]] = []
    for i, hit in enumerate(hits[:top]):
        row = state.images.rows[hit.image_id]
        box = hit.region_box or Box(x0=0, y0=0, x1=hit.width, y1=hit.height)
        kids = child_windows(box, encoder.image_size, hit.width, hit.height)
        if not kids:
            continue
        try:
            extra = row.extra or {}
            crops = read_windows(image_files(row.path, extra), kids, encoder.image_size,
                                 extra.get("display"))
        except RasterError as exc:  # the source moved or changed since indexing: keep the stored scores
            log.warning("refine skipped %s: %s", hit.path, exc)
            continue
        jobs.append((i, kids, crops))
    if not jobs:
        return hits
    out = list(hits)
    for (i, kids, _), (j, best) in zip(jobs, best_children([crops for _, _, crops in jobs], query, encoder)):
        hit = hits[i]
        if best > hit.level_scores["region"]:
            scores = dict(hit.level_scores, region=best)
            fused = weighted_sum(scores, weights)
            x0, y0, x1, y1 = kids[j]
            out[i] = hit.model_copy(update={"score": float(fused), "level_scores": scores,
                                            "region_box": Box(x0=x0, y0=y0, x1=x1, y1=y1)})
    return sorted(out, key=lambda h: -h.score)
