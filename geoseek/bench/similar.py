"""``geoseek bench similar``: image->image retrieval by class label through the real index and engine.

Rule: every image of the split queries the rest of the split (itself excluded, as the engine
leaves an indexed query image out); a result is relevant when it carries the query's class label.
Queries whose class has no other image in the gallery cannot be answered and are not scored.
Metrics (torchmetrics.retrieval, percent), over each query's top K ranked images:
- mAP@K: RetrievalMAP(top_k=K): per query, the mean of precision@i over the ranks i <= K that hold
  a relevant image, i.e. normalised by the relevant images *retrieved* in the top K (not by all
  relevant ones); a query with none in its top K scores 0.
- P@n: RetrievalPrecision(top_k=n): relevant images among the top n, divided by n (a gallery
  smaller than n counts the missing ranks as misses).
Two configurations side by side: global-only (``levels=['global']``) and fused (the index's levels
with its manifest weights, or ``weights`` when given). The index must hold exactly the split (see
recall._check_gallery). The result names each level's view count: with no region views and a zero
object weight, fused is global-only by construction.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch
from torchmetrics.retrieval import RetrievalMAP, RetrievalPrecision
from tqdm.auto import tqdm

from geoseek.bench.recall import BenchError, _check_gallery, split_items
from geoseek.schemas import LevelWeights
from geoseek.schemas.search import MAX_K
from geoseek.search.engine import SearchEngine

log = logging.getLogger(__name__)

MAP_K = 100  # above every RSICD test class (23-65 others), so its mAP@100 sees nearly every relevant image
PRECISION_KS = (10, 100)
DEFINITIONS = {
    "rule": "each image of the split queries the rest (itself excluded) image->image; a hit carries the query's class label; "
            "queries whose class has no other image in the gallery are not scored",
    "mAP@K": "torchmetrics RetrievalMAP(top_k=K): mean over queries of the mean precision@i at the ranks i<=K holding a "
             "relevant image (normalised by relevant images retrieved in the top K; none retrieved -> 0)",
    "mAP@K_strict": "the usual mAP@K: the same sum of precision@i over the hits within the top K, divided by min(R, K), "
                    "R = the query's relevant images in the gallery (a relevant image ranked below K lowers it; "
                    "torchmetrics has no such normalisation, so it is computed here)",
    "P@n": "torchmetrics RetrievalPrecision(top_k=n): relevant images in the top n / n (missing ranks are misses)",
    "per_class": "the same metrics over the queries of one class",
}


def split_labels(dataset: Path, split: str, image_dir: Path | None = None) -> dict[str, str]:
    """Image id -> class label (``extra['label']`` or ``extra['aid_class']``) for every image of the split, in file order."""
    labels: dict[str, str] = {}
    unlabelled, conflicts = 0, 0
    for iid, item in split_items(dataset, split, image_dir):
        label = item.extra.get("label") or item.extra.get("aid_class")
        if not label:
            unlabelled += 1
        elif labels.setdefault(iid, str(label)) != str(label):
            conflicts += 1  # the same pixels listed under two classes: the first listing wins
    if unlabelled:
        raise BenchError(f"{unlabelled} image(s) of split '{split}' have no class label ('label' or 'aid_class' in "
                         f"{dataset}, or a class folder); class retrieval needs one per image")
    if conflicts:
        log.warning("%d duplicate image(s) carry a second class label; kept the first", conflicts)
    return labels


def ranked_relevance(engine: SearchEngine, labels: dict[str, str], k: int, levels: list[str] | None,
                     weights: LevelWeights | None = None, progress: bool = True) -> tuple[np.ndarray, dict]:
    """(Q, k) bool: rank j of query q's result list has q's label (short lists padded with misses);
    plus the levels/weights the engine used. Q = len(labels), in its order."""
    rows, used = [], None
    for iid, label in tqdm(labels.items(), desc=f"similar {','.join(levels or ['fused'])}", disable=not progress, leave=False):
        used = engine.search_image(iid, target="images", k=k, levels=levels, weights=weights)
        row = [labels.get(hit.image_id) == label for hit in used.results]
        rows.append(row + [False] * (k - len(row)))
    return np.array(rows, dtype=bool).reshape(len(rows), k), {"levels": used.levels, "weights": used.weights}


def strict_map(relevant: np.ndarray, n_relevant: np.ndarray, k: int) -> float:
    """mAP@k normalised by min(R, k): (Q, >=k) bool ranked relevance, (Q,) relevant images per query -> percent."""
    rel = relevant[:, :k].astype(np.float64)
    precision = np.cumsum(rel, axis=1) / np.arange(1, rel.shape[1] + 1)
    ap = (precision * rel).sum(axis=1) / np.minimum(np.maximum(n_relevant, 1), k)
    return round(100.0 * float(ap.mean()), 2)


def retrieval_scores(relevant: np.ndarray, k: int = MAP_K, ks: tuple[int, ...] = PRECISION_KS,
                     n_relevant: np.ndarray | None = None) -> dict[str, float]:
    """(Q, >=max(k, ks)) bool ranked relevance of answerable queries -> {'mAP@k', 'P@n'...} in percent;
    with ``n_relevant`` ((Q,) relevant images per query) also 'mAP@k_strict'."""
    rel = torch.as_tensor(relevant, dtype=torch.bool)
    q, n = rel.shape
    if n < max(k, *ks):
        raise ValueError(f"ranked lists hold {n} results; the metrics need {max(k, *ks)}")
    preds = torch.arange(n, 0, -1, dtype=torch.float32).expand(q, n).flatten()  # rank order; > 0 as AP requires
    indexes = torch.arange(q).unsqueeze(1).expand(q, n).flatten()
    metrics = {f"mAP@{k}": RetrievalMAP(top_k=k, empty_target_action="neg")}
    metrics |= {f"P@{kk}": RetrievalPrecision(top_k=kk, empty_target_action="neg") for kk in ks}
    out = {name: round(100.0 * float(m(preds, rel.flatten(), indexes=indexes)), 2) for name, m in metrics.items()}
    if n_relevant is not None:
        out[f"mAP@{k}_strict"] = strict_map(relevant, n_relevant, k)
    return out


def _by_class(relevant: np.ndarray, classes: np.ndarray, k: int, n_relevant: np.ndarray) -> dict[str, dict[str, float]]:
    """Per class label, the scores over that class's queries; (Q, k) bool, (Q,) labels, (Q,) relevant counts."""
    return {c: retrieval_scores(relevant[classes == c], k, n_relevant=n_relevant[classes == c])
            for c in sorted(set(classes.tolist()))}


def similar_benchmark(index: Path, dataset: Path, split: str = "test", k: int = MAP_K, weights: LevelWeights | None = None,
                      engine: SearchEngine | None = None, progress: bool = True, image_dir: Path | None = None) -> dict:
    """Global-only and fused (manifest weights, or ``weights``) class retrieval over the split; JSON-ready (percent)."""
    started = time.perf_counter()
    if not 1 <= k <= MAX_K:
        raise BenchError(f"K must be between 1 and the engine's result cap {MAX_K} (mAP@K needs the top K of every "
                         f"query); got {k}")
    engine = engine or SearchEngine(index)
    labels = split_labels(dataset, split, image_dir)
    _check_gallery(engine, list(labels), split)
    depth = max(k, *PRECISION_KS)
    names = np.array(list(labels.values()))
    counts = {c: int((names == c).sum()) for c in set(names.tolist())}
    answerable = np.array([counts[c] > 1 for c in names])
    if not answerable.any():
        raise BenchError(f"no class of split '{split}' has two images; nothing to retrieve")
    scored = names[answerable]
    n_relevant = np.array([counts[c] - 1 for c in scored])  # the query itself is excluded
    configs, overall, per_class = {}, {}, {}
    for name, levels, w in (("global", ["global"], None), ("fused", None, weights)):
        t0 = time.perf_counter()
        rel, used = ranked_relevance(engine, labels, depth, levels, w, progress)
        rel = rel[answerable]
        overall[name] = retrieval_scores(rel, k, n_relevant=n_relevant)
        per_class[name] = _by_class(rel, scored, k, n_relevant)
        configs[name] = {**used, "seconds": round(time.perf_counter() - t0, 1)}
        log.info("%s: %s", name, overall[name])
    configs["fused"]["weights_from"] = "request" if weights else "manifest"
    state = engine.state()
    return {
        "definitions": DEFINITIONS, "K": k, "configs": configs, "overall": overall,
        "per_class": {c: {"n_queries": int((scored == c).sum()), **{n: per_class[n][c] for n in configs}}
                      for c in sorted(set(scored.tolist()))},
        "n_queries": int(answerable.sum()), "unscored_classes": {c: n for c, n in sorted(counts.items()) if n == 1},
        "classes": len(counts), "gallery_images": len(state.images.ids),
        "views_per_level": {lv: data.size for lv, data in state.levels.items()}, "split": split, "dataset": str(dataset),
        "index": str(index), "index_version": state.version, "model": state.manifest.model.id,
        "seconds": round(time.perf_counter() - started, 1),
    }
