"""``geoseek bench scenes``: small objects in large scenes — find the scenes that hold X, and where.

Scored on COCO-boxed scenes (NWPU VHR-10; DOTA/DIOR/xView converted to COCO), through the real
SearchEngine, per configuration (levels, refine) and per index (DRIS vs uniform tiling):

- Scene retrieval: every phrase of a class ranks the gallery (text->image, k = gallery size); a
  scene is relevant when it holds a box of the class. AP per phrase (torchmetrics RetrievalMAP),
  AP per class = mean over its phrases, mAP = mean over classes. Chance: the exact expected AP of
  a uniformly random ranking, (R-1)/(N-1) + H_N/N * (1 - (R-1)/(N-1)) for R relevant of N scenes
  (about the class's share of scenes, ``prevalence``). The engine returns at most MAX_K hits; on
  a larger gallery the scenes it did not return are put last, the relevant ones after the others
  (``ranking.unreturned``), so AP is then a lower bound.
- Localisation: for the relevant hits in each phrase's top ``top``, the returned box per level
  (``global``: the whole image, the trivial baseline; ``region``/``object``: the hit's
  region_box/object_box; ``finest``: the box of the finest level with a weight > 0 that returned
  one — object, else region, else the whole image)
  is scored by geoseek.bench.scene_boxes (contains a gt centre, area share, IoU), next to
  random boxes of the same sizes in the same scenes.

DRIS vs uniform tiling: ``scenes_benchmark`` takes several engines (label -> engine) over the
same images; the CLI's ``--compare-index DIR`` adds a second one, labelled 'dris' or 'uniform'
from its manifest (``--label``/``--compare-label`` to rename). Global-only does not depend on the
tiling, so with one model both indexes must give the same APs (``sanity``).
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torchmetrics.retrieval import RetrievalMAP
from tqdm.auto import tqdm

from geoseek.bench.recall import BenchError
from geoseek.bench.scene_boxes import DRAWS, ScoredHit, level_figures
from geoseek.bench.scene_data import Scenes, check_gallery, load_phrases, load_scenes
from geoseek.schemas import LevelWeights
from geoseek.schemas.search import MAX_K, Box, ImageHit
from geoseek.search.engine import SearchEngine
from geoseek.search.query import EncodedText

log = logging.getLogger(__name__)

# name -> (levels, zoom refine); weights are the index manifest's normalised over the levels used (see config_weights).
CONFIGS: dict[str, tuple[tuple[str, ...], bool]] = {
    "global": (("global",), False),
    "global+region": (("global", "region"), False),
    "global+object": (("global", "object"), False),
    "fused": (("global", "region", "object"), False),
    "fused+refine": (("global", "region", "object"), True),
}
TOP = 10  # hits per query whose boxes are scored (and, with refine, zoomed into)
AP_TOLERANCE = 1e-6  # global-only APs of two indexes of the same model agree to this


def chance_ap(relevant: int, n: int) -> float:
    """Expected AP of a uniformly random ranking of ``n`` scenes, ``relevant`` of them relevant (exact)."""
    if relevant == 0:
        return 0.0
    if n == 1:
        return 1.0
    harmonic = sum(1.0 / i for i in range(1, n + 1))
    p = (relevant - 1) / (n - 1)  # chance that another given position is relevant too
    return p + harmonic / n * (1.0 - p)


def full_ranking(returned: list[str], gallery: list[str], relevant: set[str]) -> np.ndarray:
    """(len(gallery),) bool relevance in rank order: the engine's hits, then the scenes it did not return
    (irrelevant ones first, so an unreturned relevant scene scores as badly as it can)."""
    seen = set(returned)
    rest = [g for g in gallery if g not in seen]
    order = returned + [g for g in rest if g not in relevant] + [g for g in rest if g in relevant]
    return np.array([g in relevant for g in order], bool)


def mean_ap(rows: list[np.ndarray]) -> float:
    """Mean over queries of AP; rows: one (n,) bool relevance per query, in rank order (torchmetrics RetrievalMAP)."""
    rel = torch.as_tensor(np.stack(rows))
    q, n = rel.shape
    preds = torch.arange(n, 0, -1, dtype=torch.float32).expand(q, n)  # positive, strictly falling: the rank order
    indexes = torch.arange(q).unsqueeze(1).expand(q, n)
    metric = RetrievalMAP(empty_target_action="neg")
    return float(metric(preds.flatten(), rel.flatten(), indexes=indexes.flatten()))


def _xyxy(box: Box | None) -> tuple[int, int, int, int] | None:
    return None if box is None else (box.x0, box.y0, box.x1, box.y1)


def hit_boxes(hit: ImageHit, weights: dict[str, float]) -> dict[str, tuple[int, int, int, int] | None]:
    """The boxes one hit is scored with: global (whole image), each used level's own box, and ``finest``:
    the box of the finest level that has one and a weight > 0 in ``weights`` (level -> normalised weight)."""
    whole = (0, 0, hit.width, hit.height)
    boxes: dict[str, tuple[int, int, int, int] | None] = {"global": whole}
    if "region" in weights:
        boxes["region"] = _xyxy(hit.region_box)
    if "object" in weights:
        boxes["object"] = _xyxy(hit.object_box)
    if len(weights) > 1:
        boxes["finest"] = next((boxes[lv] for lv in ("object", "region") if weights.get(lv, 0) > 0 and boxes.get(lv)),
                               whole)
    return boxes


def config_weights(fusion: LevelWeights, levels: tuple[str, ...]) -> tuple[LevelWeights | None, str | None]:
    """Weights for one configuration (None: the manifest's) and why they differ from the manifest's.

    A two-level configuration measures what its finer level adds; when the manifest gives that
    level weight 0 (tuned for caption retrieval, say) the configuration would just be global
    again, so it gets equal weights instead.
    """
    raw = {"global": fusion.global_, "region": fusion.region, "object": fusion.object}
    if len(levels) != 2 or raw[levels[1]] > 0:
        return None, None
    return (LevelWeights(**{"global": 1.0, "region": 1.0, "object": 1.0}),
            f"the manifest gives {levels[1]} weight 0; equal weights over {'+'.join(levels)} instead")


@dataclass
class Query:
    cls: str
    phrase: str
    vector: EncodedText  # the phrase as text->image search scores it


def run_config(engine: SearchEngine, scenes: Scenes, queries: list[Query], levels: tuple[str, ...], refine: bool,
               weights: LevelWeights | None = None, top: int = TOP, draws: int = DRAWS, seed: int = 0,
               progress: bool = False) -> dict:
    """One configuration over all queries: AP per phrase/class, mAP, localisation per level; JSON-ready.

    ``weights``: None = the index manifest's, normalised over ``levels``."""
    started = time.perf_counter()
    k = min(len(scenes.image_ids), MAX_K)
    rows: dict[str, list[np.ndarray]] = {}
    phrase_ap: dict[str, dict[str, float]] = {}
    hits: dict[str, list[ScoredHit]] = {}
    precision, returned, used = [], [], {}
    for q in tqdm(queries, desc="+".join(levels) + (" refine" if refine else ""), disable=not progress, leave=False):
        resp = engine.search_text_vector(q.vector, k=k, levels=list(levels), weights=weights, refine=refine,
                                         refine_top=top)
        used = resp.weights
        relevant = scenes.relevant(q.cls)
        ranked = [h.image_id for h in resp.results]
        returned.append(len(ranked))
        row = full_ranking(ranked, scenes.image_ids, relevant)
        rows.setdefault(q.cls, []).append(row)
        phrase_ap.setdefault(q.cls, {})[q.phrase] = mean_ap([row])
        precision.append(float(row[:top].mean()))
        hits.setdefault(q.cls, []).extend(ScoredHit(h.width, h.height, scenes.boxes[q.cls][h.image_id], hit_boxes(h, used))
                                          for h in resp.results[:top] if h.image_id in relevant)
    ap = {c: {"AP": mean_ap(r), "phrases": phrase_ap[c]} for c, r in rows.items()}
    pooled = [h for hs in hits.values() for h in hs]
    report = ["global", *(lv for lv in ("region", "object") if lv in levels)] + (["finest"] if len(levels) > 1 else [])
    main = report[-1]
    return {
        "levels": list(levels), "weights": used, "refine": refine,
        "mAP": float(np.mean([a["AP"] for a in ap.values()])), "AP": ap, f"P@{top}": float(np.mean(precision)),
        "localisation": {lv: level_figures(pooled, lv, draws, seed) for lv in report},
        "localisation_per_class": {c: level_figures(hs, main, draws, seed) for c, hs in hits.items()},
        "localisation_level_per_class": main,
        "returned_per_query_min": int(min(returned)), "seconds": round(time.perf_counter() - started, 1),
    }


def index_label(engine: SearchEngine, given: str | None = None) -> str:
    """``given``, else 'uniform' or 'dris' by how the index was tiled."""
    return given or ("uniform" if engine.state().manifest.dris.uniform else "dris")


def _sanity(per_index: dict[str, dict]) -> dict:
    """Global-only must not depend on the tiling: same model -> same APs on every index."""
    runs = {lb: r["configs"]["global"] for lb, r in per_index.items() if "global" in r["configs"]}
    if len(runs) < 2:
        return {"global_only_equal": None, "note": "one index: nothing to compare"}
    labels = list(runs)
    first = runs[labels[0]]
    diff = max(abs(runs[lb]["AP"][c]["AP"] - first["AP"][c]["AP"]) for lb in labels[1:] for c in first["AP"])
    models = {per_index[lb]["model"] for lb in labels}
    return {"global_only_equal": diff <= AP_TOLERANCE, "max_abs_AP_diff": diff, "same_model": len(models) == 1,
            "labels": labels}


def scenes_benchmark(engines: dict[str, SearchEngine], coco: Path, images: Path | None = None,
                     phrases: Path | None = None, configs: list[str] | None = None, top: int = TOP,
                     draws: int = DRAWS, seed: int = 0, progress: bool = True, weights: LevelWeights | None = None) -> dict:
    """Every configuration on every index (label -> engine over the COCO images); JSON-ready result.

    ``weights`` replaces the manifest's for the three-level configurations (fused, fused+refine).

    Raises BenchError when the COCO file, its images, the phrases, the configurations or an
    index's gallery cannot be scored as asked.
    """
    started = time.perf_counter()
    unknown = sorted(set(configs or ()) - set(CONFIGS))
    if unknown:
        raise BenchError(f"unknown configurations {unknown}; choose from {list(CONFIGS)}")
    if top < 1 or draws < 1:
        raise BenchError(f"top and draws must be at least 1; got {top}, {draws}")
    scenes = load_scenes(coco, images)
    by_class = load_phrases(scenes.classes, phrases)
    n = len(scenes.image_ids)
    classes = [c for c in scenes.classes if scenes.relevant(c)]  # a class with no scene has no AP to score
    chance = {c: chance_ap(len(scenes.relevant(c)), n) for c in classes}
    per_index: dict[str, dict] = {}
    for label, engine in engines.items():
        state = engine.state()
        check_gallery(state, scenes)
        texts = [(c, p) for c in classes for p in by_class[c]]
        encoded = engine.encode_text_queries([p for _, p in texts])
        queries = [Query(c, p, v) for (c, p), v in zip(texts, encoded)]
        runs, skipped = {}, {}
        for name in configs or CONFIGS:
            levels, refine = CONFIGS[name]
            missing = [lv for lv in levels if lv not in state.manifest.levels]
            if missing:
                skipped[name] = f"the index has no {','.join(missing)} level"
                continue
            log.info("%s: %s", label, name)
            used, why = config_weights(state.manifest.fusion.text_to_image, levels)
            if weights is not None and len(levels) == 3:
                used, why = weights, "weights given with --weights instead of the manifest's"
            runs[name] = {**run_config(engine, scenes, queries, levels, refine, used, top, draws, seed, progress),
                          "chance_mAP": float(np.mean(list(chance.values())))}
            if why:
                runs[name]["weights_note"] = why
        per_index[label] = {"index": str(engine.root), "index_version": state.version, "model": state.manifest.model.id,
                            "dris": state.manifest.dris.model_dump(),
                            "views": {lv: d.size for lv, d in state.levels.items()}, "configs": runs, "skipped": skipped}
    return {
        "summary": {lb: {name: _summary(run) for name, run in r["configs"].items()} for lb, r in per_index.items()},
        "sanity": _sanity(per_index),
        "dataset": {"coco": str(coco), "scenes": n, "boxes": scenes.n_boxes,
                    "classes": {c: {"scenes": len(scenes.relevant(c)), "prevalence": len(scenes.relevant(c)) / n,
                                    "chance_AP": chance[c]} for c in classes}},
        "chance_mAP": float(np.mean(list(chance.values()))), "phrases": {c: by_class[c] for c in classes},
        "ranking": {"k": min(n, MAX_K), "whole_gallery": n <= MAX_K,
                    "unreturned": "scenes the engine did not return are ranked last, relevant after irrelevant"},
        "top": top, "draws": draws, "seed": seed, "indexes": per_index, "seconds": round(time.perf_counter() - started, 1),
    }


def _summary(run: dict) -> dict:
    """The headline figures of one run: mAP vs chance, and the finest level's localisation vs chance."""
    lv = "finest" if "finest" in run["localisation"] else "global"
    loc = run["localisation"][lv]
    keys = ("contains", "iou_mean", "iou_ge_50")
    return {"mAP": _r(run["mAP"]), "chance_mAP": _r(run["chance_mAP"]), "box_level": lv, "area_share": _r(loc["area_share"]),
            **{k: _r(loc[k]) for k in keys}, **{f"chance_{k}": _r(loc["chance"][k]) for k in keys}}


def _r(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), 4)
