"""Other ways to score the region and object levels, measured through an index on a *val* split.

The issue behind it (15) lists where training and search could disagree. Each variant below re-scores the
levels from what the index already stores, for every caption of the split against every image, and fuses
them over the weight grid of ``geoseek bench tune-fusion``. The metric is text->image mean R@1/5/10 by the
standard own-image rule: a caption's only correct image is its own.

Variants:
- ``as_indexed``: the engine's scores: region = best DRIS view (the global view included), object = FILIP
  over all of the image's cells;
- ``object_per_view``: FILIP within each encoded view, then the best view, as the object loss scores one
  training image (identical for an image with one view);
- ``region_cell_windows``: region = the best 3x3-cell window mean of any view's 5x5 cells, the region loss's
  own views (``training.losses.region_views``), instead of the DRIS views' pooled vectors;
- ``region_max_of_both``: the better of the two region scores;
- ``view_penalty_A``: region and object scores minus A * ln(number of views), a correction for the chances
  that a max over more views gives.

Choices are made on val (RSICD val chips, val mosaics); this script is never run on a test split.

    python benchmarks/level_variants.py --index IX --dataset DS --split val --label rsicd_val \
        --out benchmarks/results/level_variants_val.json
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from geoseek.bench.fusion import _float32_levels, _pooled_scores, _top_k, weight_grid
from geoseek.bench.recall import _check_gallery, split_queries
from geoseek.metrics import KS, recall_at_k
from geoseek.search.engine import SearchEngine
from geoseek.search.object_box import windows
from geoseek.search.query import text_views

log = logging.getLogger("benchmarks.level_variants")
LEVELS = ["global", "region", "object"]
PENALTIES = (0.01, 0.02, 0.05)


def view_of_cells(level, views_per_image: np.ndarray) -> tuple[np.ndarray, int]:
    """Each object row's view id (0..V-1, views numbered image by image) and the cells per view.

    An image's cells are stored view after view, the same count for each (object_box.window_box reads them so)."""
    counts = level.ends - level.starts
    per_view = set((counts // views_per_image).tolist())
    if len(per_view) != 1 or (counts % views_per_image).any() or 0 in per_view:
        raise SystemExit("the object level is not the same grid of cells in every view (an index of segments?)")
    cells = per_view.pop()
    if (np.diff(np.asarray(level.image_idx)) < 0).any():  # views are numbered (and pooled) in row order
        raise SystemExit("the object level's rows are not in image order")
    return np.arange(level.size) // cells, cells  # rows in image order, each image's views in turn


def extra_scores(engine: SearchEngine, state, texts: list[str]) -> dict[str, np.ndarray]:
    """(T, N) per variant: object FILIP per view, and the best region-loss window of the stored cells; the
    engine's pooled level scores (T, N, 3) as search sees them (``as_indexed``); views (N,) per image. Each text is
    encoded once for all of them."""
    obj, n = state.levels["object"], len(state.images.ids)
    region = state.levels["region"]
    views = 1 + (region.ends - region.starts)  # global + region views
    view, cells = view_of_cells(obj, views)
    side = int(round(cells ** 0.5))
    view_image = np.repeat(np.arange(n), views)
    grid = obj.vectors.reshape(-1, cells, obj.vectors.shape[1])
    win = windows(side, side)  # (W, k*k) cell ids within a view
    pooled = grid[:, win].mean(axis=2)  # (V, W, D)
    pooled /= np.maximum(np.linalg.norm(pooled, axis=2, keepdims=True), 1e-12)
    pooled = pooled.reshape(-1, pooled.shape[2])
    window_image = np.repeat(view_image, len(win))
    encoded = engine.encode_text_queries(texts, LEVELS)
    per_view = np.full((len(texts), n), -np.inf, np.float32)
    windows_best = np.full((len(texts), n), -np.inf, np.float32)
    as_indexed = np.zeros((len(texts), n, len(LEVELS)), np.float32)
    for i in range(len(texts)):
        views_i = text_views(encoded[i], LEVELS, state.manifest)
        as_indexed[i] = _pooled_scores(state, views_i, LEVELS)
        q = views_i.by_level
        sims = obj.vectors @ q["object"].T  # (cells, tokens)
        best = np.full((int(views.sum()), sims.shape[1]), -np.inf, np.float32)
        np.maximum.at(best, view, sims)  # each token's best cell in each view
        np.maximum.at(per_view[i], view_image, best.mean(axis=1))
        np.maximum.at(windows_best[i], window_image, pooled @ q["global"][0])
    return {"as_indexed": as_indexed, "object_per_view": per_view, "region_cell_windows": windows_best, "views": views}


def grid_recall(g: np.ndarray, r: np.ndarray, o: np.ndarray, entry_text: np.ndarray, entry_image: np.ndarray,
                shipped: tuple[float, float, float], views: np.ndarray) -> dict:
    """Mean t2i R@1/5/10 over the weight grid: global-only, at ``shipped``, and the best (ties: first in grid); and
    at those two weights, per number of views of the query's correct image (``views`` (N,) per image)."""
    res, hits = {}, {}
    for w in weight_grid():
        top = _top_k(w[0] * g + w[1] * r + w[2] * o, max(KS))[entry_text]
        hits[w] = top == entry_image[:, None]
        res[w] = round(float(np.mean(list(recall_at_k(hits[w]).values()))), 2)
    best = max(res, key=res.get)
    target_views = views[entry_image]

    def by_views(w: tuple) -> dict[str, float]:
        return {str(v): round(float(np.mean(list(recall_at_k(hits[w][target_views == v]).values()))), 2)
                for v in np.unique(target_views)} if w in hits else {}

    return {"global_only": res[(1.0, 0.0, 0.0)], "shipped": res.get(shipped), "best": res[best], "best_weights": list(best),
            "by_views_of_answer": {"shipped": by_views(shipped), "best": by_views(best)}}


def measure(index: Path, dataset: Path, split: str) -> dict:
    engine = SearchEngine(index)
    state = _float32_levels(engine.state())
    image_ids, entries = split_queries(dataset, split)
    _check_gallery(engine, image_ids, split)
    texts = sorted({t for t, _ in entries})
    ex = extra_scores(engine, state, texts)
    g, r, o = (ex["as_indexed"][..., j] for j in range(len(LEVELS)))
    rw = np.maximum(ex["region_cell_windows"], g)  # as the engine pools region: never below the global view
    gallery = {iid: j for j, iid in enumerate(state.images.ids)}
    row = {t: i for i, t in enumerate(texts)}
    et = np.array([row[t] for t, _ in entries])
    ei = np.array([gallery[iid] for _, iid in entries])
    w = state.manifest.fusion.text_to_image
    shipped = (w.global_, w.region, w.object)
    ln_views = np.log(ex["views"])[None, :].astype(np.float32)
    variants = {"as_indexed": (g, r, o), "object_per_view": (g, r, ex["object_per_view"]),
                "region_cell_windows": (g, rw, o), "region_max_of_both": (g, np.maximum(r, rw), o)}
    for a in PENALTIES:
        variants[f"view_penalty_{a:g}"] = (g, r - a * ln_views, o - a * ln_views)
    out = {}
    for name, (gg, rr, oo) in variants.items():
        out[name] = grid_recall(gg, rr, oo, et, ei, shipped, ex["views"])
        log.info("%s: %s", name, out[name])
    return {"index": str(index), "dataset": str(dataset), "split": split, "model": state.manifest.model.id,
            "images": len(state.images.ids), "queries": len(entries),
            "views_per_image": {str(k): v for k, v in sorted(Counter(ex["views"].tolist()).items())},
            "queries_by_views_of_answer": {str(k): v for k, v in sorted(Counter(ex["views"][ei].tolist()).items())},
            "shipped_t2i_weights": list(shipped), "metric": "text->image mean R@1/5/10, own-image rule",
            "variants": out}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--dataset", type=Path, required=True)
    ap.add_argument("--split", default="val")
    ap.add_argument("--label", required=True, help="key of this measurement in --out")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    if a.split == "test":
        ap.error("variants are chosen on val: run this on a val split, never on one we report")
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    result = json.loads(a.out.read_text()) if a.out.exists() else {}
    result[a.label] = measure(a.index, a.dataset, a.split)
    a.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result[a.label]["variants"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
