"""Zoom refine (after GeoMag): look closer at the best region of the top hits.

For each of the top-N hits, the best region box is split 2x2 at native resolution (children
never upsampled: the planner's window rule), the children are encoded on the fly, and if one
matches the query better than the stored views, the hit's region score and box are updated and
the hits re-ranked. It reads source pixels at query time, so it costs encoder calls: opt-in.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from geoseek.indexer.planner import encode_window
from geoseek.indexer.rasters import RasterError, open_raster
from geoseek.models import Encoder
from geoseek.schemas.search import Box, ImageHit
from geoseek.search.state import IndexState

log = logging.getLogger(__name__)


def _children(box: Box, side: int, width: int, height: int) -> list[tuple[int, int, int, int]]:
    w, h = box.x1 - box.x0, box.y1 - box.y0
    if w * h <= side * side:
        return []  # already at (or below) native resolution: nothing finer to see
    mx, my = box.x0 + w // 2, box.y0 + h // 2
    quads = [(box.x0, box.y0, mx, my), (mx, box.y0, box.x1, my), (box.x0, my, mx, box.y1), (mx, my, box.x1, box.y1)]
    return [encode_window(q, side, width, height) for q in quads]


def refine_hits(state: IndexState, hits: list[ImageHit], query: np.ndarray, encoder: Encoder,
                weights: dict[str, float], top: int = 5) -> list[ImageHit]:
    """Rescore the region term of the first ``top`` hits with zoomed-in children; returns re-ranked hits."""
    if "region" not in weights:
        return hits
    out = list(hits)
    for i, hit in enumerate(hits[:top]):
        row = state.images.rows[hit.image_id]
        paths = [Path(p) for p in (row.extra or {}).get("tiles", [row.path])]
        box = hit.region_box or Box(x0=0, y0=0, x1=hit.width, y1=hit.height)
        kids = _children(box, encoder.image_size, hit.width, hit.height)
        if not kids:
            continue
        try:
            raster = open_raster(paths)
        except RasterError as exc:  # the source moved or changed since indexing: keep the stored scores
            log.warning("refine skipped %s: %s", hit.path, exc)
            continue
        try:
            crops = [raster.read(k, (encoder.image_size, encoder.image_size)) for k in kids]
        except RasterError as exc:
            log.warning("refine skipped %s: %s", hit.path, exc)
            continue
        finally:
            getattr(raster, "close", lambda: None)()
        sims = encoder.encode_images(crops) @ query.reshape(-1)
        j = int(np.argmax(sims))
        if sims[j] > hit.level_scores["region"]:
            scores = dict(hit.level_scores, region=float(sims[j]))
            fused = sum(weights[lv] * scores[lv] for lv in weights)
            x0, y0, x1, y1 = kids[j]
            out[i] = hit.model_copy(update={"score": float(fused), "level_scores": scores,
                                            "region_box": Box(x0=x0, y0=y0, x1=x1, y1=y1)})
    return sorted(out, key=lambda h: -h.score)
