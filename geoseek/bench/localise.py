"""``geoseek bench localise``: do the top region/object views for a text query fall on buildings?

Scored on one scene with ground-truth building boxes (the Joplin tornado scene: 975 boxes on the
3072x2048 post mosaic). The index must hold exactly that scene, built from the mosaic JPEG or
from its six GeoTIFF tiles (indexed as one mosaic they give the same pixel frame). This is a
view-level search: the views of one level are ranked by cosine with the encoded query, exactly
over all of them, and the top ``top`` hit boxes (source pixels) are scored:

- ``overlap``: fraction of the hits whose box intersects (positive area) a building box;
- ``cover``: mean fraction of each hit box's area that lies on buildings.

Building boxes are rasterised to a pixel mask (a pixel is a building pixel when its centre lies
in a box), so both figures are exact pixel counts and ``overlap`` is ``cover > 0``.

Big boxes trivially overlap something: a 1536 px region view over a town overlaps a building
whatever the query. ``overlap`` alone therefore says little; read it against the level's
``chance`` figures (the same metrics averaged over ALL views of the level: what ``top`` random
views would score) and against ``cover``, which a big box only earns by being mostly buildings.
``mean_area_px`` is reported for the same reason.

``refine=True`` applies the query service's zoom refine (geoseek.search.refine) to every region
hit: its box is split 2x2 at native resolution (children never upsampled), the children are read
from the source raster (the JPEG, or the GeoTIFF tiles) and encoded in one batch, and a child
that matches the query better replaces the hit's box and score; hits are then re-ranked.
``refine_encoder_calls`` counts the images encoded. Object hits are not refined: the service
refines region boxes only.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
from PIL import Image

from geoseek.bench.recall import BenchError
from geoseek.models import Encoder
from geoseek.schemas.search import Box
from geoseek.schemas.sources import image_files
from geoseek.search.engine import SearchEngine
from geoseek.search.refine import best_children, child_windows, read_windows
from geoseek.search.state import IndexState
from geoseek.views.rasters import RasterError

log = logging.getLogger(__name__)

METRICS = ("overlap", "cover", "mean_area_px")


def load_boxes(path: Path) -> tuple[np.ndarray, tuple[int, int]]:
    """Building boxes (n, 4) float64 pixel xyxy and the (width, height) pixel frame they are drawn on.

    The frame is the file's ``width``/``height`` when given, else the size of the image it names
    (``"image"``, resolved beside the file).
    """
    try:
        data = json.loads(Path(path).read_text())
        boxes = np.array([b["bbox_xyxy"] for b in data["boxes"]], dtype=np.float64).reshape(-1, 4)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BenchError(f"{path}: not a building-box file with 'boxes'[].bbox_xyxy ({exc})") from None
    if "width" in data and "height" in data:
        frame = (int(data["width"]), int(data["height"]))
    else:
        image = Path(path).parent / str(data.get("image", ""))
        if not data.get("image") or not image.is_file():
            raise BenchError(f"{path}: no width/height and its image '{data.get('image')}' is not beside it; "
                             "cannot tell the pixel frame of the boxes")
        with Image.open(image) as im:  # header only
            frame = im.size
    if len(boxes) == 0:
        raise BenchError(f"{path}: no boxes")
    return boxes, frame


def building_mask(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """(height, width) bool: pixels whose centre lies in one of ``boxes`` (n, 4) xyxy; every box marks >= 1 px."""
    mask = np.zeros((height, width), bool)
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    lo = np.ceil(b[:, :2] - 0.5).astype(np.int64)  # first pixel whose centre is >= the box edge
    hi = np.maximum(np.ceil(b[:, 2:] - 0.5).astype(np.int64), lo + 1)
    lo = np.clip(lo, 0, [width, height])
    hi = np.clip(hi, 0, [width, height])
    for (x0, y0), (x1, y1) in zip(lo, hi):
        mask[y0:y1, x0:x1] = True
    return mask


def box_overlap_and_cover(boxes: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For integer pixel boxes (n, 4) xyxy (x1/y1 exclusive): (overlaps a building pixel (n,) bool,
    fraction of the box's pixels that are building pixels (n,) float64). Boxes are clipped to the mask."""
    h, w = mask.shape
    sat = np.pad(mask.cumsum(0, dtype=np.int64).cumsum(1), ((1, 0), (1, 0)))
    b = np.asarray(boxes, np.int64).reshape(-1, 4)
    x0, x1 = np.clip(b[:, 0], 0, w), np.clip(b[:, 2], 0, w)
    y0, y1 = np.clip(b[:, 1], 0, h), np.clip(b[:, 3], 0, h)
    covered = sat[y1, x1] - sat[y0, x1] - sat[y1, x0] + sat[y0, x0]
    area = np.maximum(x1 - x0, 0) * np.maximum(y1 - y0, 0)
    return covered > 0, covered / np.maximum(area, 1)


def _figures(boxes: np.ndarray, mask: np.ndarray) -> dict[str, float | None]:
    """overlap, cover and mean box area (px^2) of a set of boxes; None for an empty set."""
    if len(boxes) == 0:
        return {m: None for m in METRICS}
    overlap, cover = box_overlap_and_cover(boxes, mask)
    area = (boxes[:, 2] - boxes[:, 0]).astype(np.float64) * (boxes[:, 3] - boxes[:, 1])
    return {"overlap": float(overlap.mean()), "cover": float(cover.mean()), "mean_area_px": float(area.mean())}


def _check_scene(state: IndexState, frame: tuple[int, int], levels: tuple[str, ...]) -> None:
    imgs = state.images
    if len(imgs.ids) != 1:
        raise BenchError(f"the index holds {len(imgs.ids)} images; localisation needs an index of the one scene "
                         "the boxes are drawn on")
    size = (int(imgs.width[0]), int(imgs.height[0]))
    if size != frame:
        raise BenchError(f"the indexed scene is {size[0]}x{size[1]} px but the boxes are drawn on a "
                         f"{frame[0]}x{frame[1]} frame; index the scene the boxes belong to")
    missing = [lv for lv in levels if lv not in state.levels]
    if not levels or missing:
        raise BenchError(f"levels {list(levels)} must be some of this index's levels {list(state.levels)}")


def _refine(state: IndexState, boxes: np.ndarray, scores: np.ndarray, q: np.ndarray,
            encoder: Encoder) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Zoom refine of region hits by the query service's rule (one batched encoder pass over all
    children); returns (boxes, scores) re-ranked, hits refined, images encoded."""
    imgs = state.images
    side, width, height = encoder.image_size, int(imgs.width[0]), int(imgs.height[0])
    kids = [child_windows(Box(x0=x0, y0=y0, x1=x1, y1=y1), side, width, height) for x0, y0, x1, y1 in boxes.tolist()]
    windows = [k for ks in kids for k in ks]
    if not windows:
        return boxes, scores, 0, 0
    row = imgs.rows[imgs.ids[0]]
    try:
        crops = read_windows(image_files(row.path, row.extra), windows, side, (row.extra or {}).get("display"))
    except RasterError as exc:
        raise BenchError(f"refine cannot read the scene {row.path}: {exc}") from None
    boxes, scores = boxes.copy(), scores.astype(np.float32)
    with_kids = [i for i, ks in enumerate(kids) if ks]
    per_hit, start = [], 0
    for i in with_kids:
        per_hit.append(crops[start : start + len(kids[i])])
        start += len(kids[i])
    refined = 0
    for i, (j, best) in zip(with_kids, best_children(per_hit, q, encoder)):
        if best > scores[i]:  # only a better child replaces the hit, as in refine_hits
            boxes[i], scores[i] = kids[i][j], best
            refined += 1
    order = np.argsort(-scores, kind="stable")
    return boxes[order], scores[order], refined, len(crops)


def _rank(state: IndexState, level: str, q: np.ndarray, top: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine ranking of one level's views: (boxes (k, 4) int64, scores (k,) float32), best first."""
    data = state.levels[level]
    scores = data.vectors.astype(np.float32) @ q
    order = np.argsort(-scores, kind="stable")[:top]
    return data.bbox[order].astype(np.int64), scores[order]


def _mean(rows: list[dict]) -> dict[str, float | None]:
    out = {}
    for m in METRICS:
        vals = [r[m] for r in rows if r[m] is not None]
        out[m] = float(np.mean(vals)) if vals else None
    return out


def localisation_benchmark(index: Path, boxes: Path, queries: list[str], levels: tuple[str, ...] = ("region", "object"),
                           top: int = 20, refine: bool = False, engine: SearchEngine | None = None) -> dict:
    """Score the top ``top`` views per level for each text query against building boxes; JSON-ready.

    ``index``: index directory of the one scene; ``boxes``: building-box JSON (pixel xyxy on the
    scene). Per query and level: overlap, cover (0..1), mean_area_px (px^2), hits, boxes, scores;
    ``chance``: the same figures over all views of each level. Raises BenchError when the index,
    boxes, levels, ``top`` or queries cannot be scored as asked.
    """
    started = time.perf_counter()
    queries = list(dict.fromkeys(q.strip() for q in queries)) if queries else []
    if not queries or any(not q for q in queries):
        raise BenchError("queries must be one or more non-empty strings")
    if top < 1:
        raise BenchError(f"top must be at least 1; got {top}")
    gt, frame = load_boxes(boxes)
    engine = engine or SearchEngine(index)
    state = engine.state()
    levels = tuple(levels)
    _check_scene(state, frame, levels)
    mask = building_mask(gt, *frame)
    log.info("%d building boxes cover %.1f%% of the scene", len(gt), 100 * mask.mean())
    encoder = engine.encoder
    vectors = encoder.encode_texts(queries)
    refine_calls = 0
    per_query: dict[str, dict] = {}
    for text, q in zip(queries, vectors):
        q = np.asarray(q, np.float32)
        per_query[text] = {}
        for lv in levels:
            hit_boxes, scores = _rank(state, lv, q, top)
            row: dict = {}
            if refine and lv == "region" and len(hit_boxes):
                hit_boxes, scores, row["refined"], calls = _refine(state, hit_boxes, scores, q, encoder)
                refine_calls += calls
            row.update(_figures(hit_boxes, mask), hits=len(hit_boxes), boxes=hit_boxes.tolist(),
                       scores=[float(s) for s in scores])
            per_query[text][lv] = row
    chance = {lv: _figures(state.levels[lv].bbox.astype(np.int64), mask) for lv in levels}
    return {
        "queries": per_query, "mean": {lv: _mean([per_query[t][lv] for t in queries]) for lv in levels},
        "chance": chance, "levels": list(levels), "top": top, "refine": refine, "refine_encoder_calls": refine_calls,
        "index": str(index), "index_version": state.version, "model": state.manifest.model.id,
        "dris": state.manifest.dris.model_dump(), "views": {lv: state.levels[lv].size for lv in levels},
        "boxes": str(boxes), "building_fraction": float(mask.mean()), "seconds": round(time.perf_counter() - started, 1),
    }
