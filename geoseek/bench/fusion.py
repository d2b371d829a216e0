"""``geoseek bench tune-fusion``: choose the three level weights of each search direction on a validation split.

Each query's per-level scores against *every* image (and every caption) of the gallery are
computed once with the engine's own pooling rules (fusion.rescore_level / fuse for images, the
caption scoring of image->text); any weight triple is then a weighted sum, so a grid over the
weight simplex costs matrix arithmetic, not searches. The objectives: text->image and image->text
recall under the standard own-image rule (a caption entry's only correct image is its own; the
lenient same-string variant is never used to choose weights), each direction on its own, and
image->image mAP@100 by class label where the split has labels. Scoring the
whole gallery makes the figures an upper bound of the engine's, which rescores the candidates
its FAISS searches return (equal for flat indices and galleries within its candidate budget).
"""
from __future__ import annotations

import dataclasses
import itertools
import logging
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from geoseek.bench.recall import BenchError, _check_captions, _check_gallery, split_queries
from geoseek.bench.similar import MAP_K, retrieval_scores, split_labels
from geoseek.index.layout import IndexDir
from geoseek.metrics import KS, mean_recall, recall_at_k
from geoseek.schemas import FusionWeights, LevelWeights, MatchRule
from geoseek.search.engine import SearchEngine
from geoseek.search.fusion import fuse, reduce_queries, rescore_level, weighted_sum
from geoseek.search.query import QueryViews, indexed_image_views, text_views
from geoseek.search.state import IndexState

log = logging.getLogger(__name__)


def weight_grid(step: float = 0.1) -> list[tuple[float, float, float]]:
    """All (g, r, o) on the simplex with spacing ``step`` and g > 0 (global is always searched)."""
    n = round(1 / step)
    return [(g / n, r / n, (n - g - r) / n) for g, r in itertools.product(range(n + 1), repeat=2) if g > 0 and g + r <= n]


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """(Q, N) -> (Q, k) column ids of the k best per row, best first, ties by lower id.

    A stable full sort, as the engine ranks: identical captions of different images score
    identically, and which one ranks first decides image->text hits, so tie order must match.
    """
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.pad(top, ((0, 0), (0, k - top.shape[1])), constant_values=-1) if top.shape[1] < k else top


def _float32_levels(state: IndexState) -> IndexState:
    """``state`` with each level's vectors as float32 in memory: every query scores every image, so convert once."""
    return dataclasses.replace(state, levels={lv: dataclasses.replace(d, vectors=np.asarray(d.vectors, np.float32))
                                              for lv, d in state.levels.items()})


def _pooled_scores(state: IndexState, queries: QueryViews, levels: list[str]) -> np.ndarray:
    """(n_images, n_levels): one query's pooled level scores against every image, as the engine's fusion sees them."""
    cands = np.arange(len(state.images.ids))
    per = {lv: rescore_level(state.levels[lv], cands, queries.by_level[lv], late=lv in queries.late) for lv in levels}
    _, pooled = fuse(per, {lv: 1.0 for lv in levels})
    return np.stack([pooled[lv] for lv in levels], axis=1)


def _text_to_image_scores(engine: SearchEngine, state: IndexState, texts: list[str], levels: list[str]) -> np.ndarray:
    """(n_texts, n_images, n_levels) pooled level scores; ``state``: the engine's, levels as float32."""
    queries = engine.encode_text_queries(texts, levels)
    out = np.zeros((len(texts), len(state.images.ids), len(levels)), np.float32)
    for i in tqdm(range(len(texts)), desc="text->image scores", leave=False, disable=len(texts) < 200):
        out[i] = _pooled_scores(state, text_views(queries[i], levels, state.manifest), levels)
    return out


def _image_to_text_scores(engine: SearchEngine, image_ids: list[str], levels: list[str]) -> np.ndarray:
    """(n_images, n_captions, n_levels): per level, the best query view against each caption."""
    state = engine.state()
    texts = state.text.vectors.astype(np.float32)
    out = np.zeros((len(image_ids), len(texts), len(levels)), np.float32)
    for i, iid in enumerate(image_ids):
        views = indexed_image_views(state, iid)
        out[i] = np.stack([reduce_queries(texts @ views.by_level[lv].T, lv in views.late) for lv in levels], axis=1)
    return out


def _image_to_image_scores(state: IndexState, image_ids: list[str], levels: list[str]) -> np.ndarray:
    """(n_queries, n_images, n_levels) pooled level scores of each indexed query image against every image, as the
    engine fuses them for similar-image search (the query's own image is left out later, by ``_class_map``)."""
    out = np.zeros((len(image_ids), len(state.images.ids), len(levels)), np.float32)
    for i, iid in enumerate(tqdm(image_ids, desc="image->image scores", leave=False, disable=len(image_ids) < 200)):
        out[i] = _pooled_scores(state, indexed_image_views(state, iid), levels)
    return out


def _class_map(scores: np.ndarray, own: np.ndarray, query_labels: np.ndarray, gallery_labels: np.ndarray) -> float:
    """mAP@100 (bench similar's headline, percent) of (Q, N) fused image->image scores, each query's own image (``own``,
    (Q,) gallery rows) left out as the engine leaves it out; unanswerable queries dropped."""
    scores = scores.copy()
    scores[np.arange(len(own)), own] = -np.inf  # after fusion: a zero weight times -inf would be NaN
    counts = {c: int((query_labels == c).sum()) for c in set(query_labels.tolist())}
    answerable = np.array([counts[c] > 1 for c in query_labels])
    top = _top_k(scores, MAP_K)
    rel = (gallery_labels[top] == query_labels[:, None]) & (top >= 0)
    n_relevant = np.array([counts[c] - 1 for c in query_labels[answerable]])
    return retrieval_scores(rel[answerable], MAP_K, ks=(MAP_K,), n_relevant=n_relevant)[f"mAP@{MAP_K}"]


def _nearest(rows: list[dict], key, current: LevelWeights) -> dict:
    """The row with the best ``key``; ties (common: on images without region views the region score *is* the
    global score) go to the weights nearest ``current``, i.e. change as little as the data supports."""
    cur = np.array(list(current.as_dict().values()))
    cur = cur / max(1e-9, cur.sum())
    return max(rows, key=lambda r: (key(r), -float(np.sum((np.array(list(r["weights"].values())) - cur) ** 2))))


def tune_fusion(index: Path, dataset: Path, split: str = "val", step: float = 0.1, write: bool = True,
                engine: SearchEngine | None = None, image_dir: Path | None = None) -> dict:
    """Grid-search each direction's level weights on a val split; optionally write them into the index manifest.

    text->image weights maximise the mean of its R@1/5/10, image->text weights the mean of its own, both under the
    own-image rule (together: val mR); image->image weights maximise mAP@100 by class label when every image of the
    split has one (else the index's are kept). The result also holds the best single triple for both recall
    directions (``one_triple``), what was chosen before directions, for comparison.
    """
    engine = engine or SearchEngine(index)
    state = engine.state()
    levels = list(state.manifest.levels)
    if levels != ["global", "region", "object"]:
        raise ValueError(f"tune-fusion needs an index with all three levels; this one has {','.join(levels)}")
    image_ids, entries = split_queries(dataset, split, image_dir=image_dir)
    _check_gallery(engine, image_ids, split)
    if not entries:
        raise ValueError(f"{dataset}: split '{split}' has no captions to tune on")
    _check_captions(engine, entries, split)
    try:
        labels = split_labels(dataset, split, image_dir)
    except BenchError as exc:
        log.info("image->image weights not tuned: %s", exc)
        labels = {}
    captioned = list(dict.fromkeys(iid for _, iid in entries))  # image->text queries: captioned images
    texts = sorted({t for t, _ in entries})
    scoring = _float32_levels(state)  # every query scores every image: convert the vectors once
    t2i = _text_to_image_scores(engine, scoring, texts, levels)
    gallery = {iid: j for j, iid in enumerate(state.images.ids)}
    text_row = {t: i for i, t in enumerate(texts)}
    entry_text = np.array([text_row[t] for t, _ in entries])  # each caption entry is a query ...
    entry_image = np.array([gallery[iid] for _, iid in entries])  # ... whose only correct image is its own
    i2t = _image_to_text_scores(engine, captioned, levels)
    i2i = _image_to_image_scores(scoring, list(labels), levels) if labels else None
    query_labels = np.array(list(labels.values()))
    own = np.array([gallery[iid] for iid in labels], dtype=np.int64)
    gallery_labels = np.array([labels.get(iid, "") for iid in state.images.ids])
    caption_owner = np.array(state.text.image_ids)
    k = max(KS)
    results = []
    for w in weight_grid(step):
        weights = dict(zip(levels, w))  # on the simplex already: normalised
        fused_t = weighted_sum({lv: t2i[..., j] for j, lv in enumerate(levels)}, weights)
        top = _top_k(fused_t, k)[entry_text]  # (n_entries, k): a repeated string ranks the same way
        rel_t = (top == entry_image[:, None]) & (top >= 0)
        top_c = _top_k(weighted_sum({lv: i2t[..., j] for j, lv in enumerate(levels)}, weights), k)
        rel_i = (caption_owner[top_c] == np.array(captioned)[:, None]) & (top_c >= 0)
        r_t, r_i = recall_at_k(rel_t), recall_at_k(rel_i)
        row = {"weights": {"global": w[0], "region": w[1], "object": w[2]}, "t2i": r_t, "i2t": r_i,
               "mR": mean_recall(r_t, r_i)}
        if i2i is not None:
            row[f"i2i_mAP@{MAP_K}"] = _class_map(weighted_sum({lv: i2i[..., j] for j, lv in enumerate(levels)}, weights),
                                                 own, query_labels, gallery_labels)
        results.append(row)
    cur = state.manifest.fusion
    best_t = _nearest(results, lambda r: float(np.mean(list(r["t2i"].values()))), cur.text_to_image)
    best_i = _nearest(results, lambda r: float(np.mean(list(r["i2t"].values()))), cur.image_to_text)
    best_s = _nearest(results, lambda r: r[f"i2i_mAP@{MAP_K}"], cur.image_to_image) if i2i is not None else None
    chosen = FusionWeights(text_to_image=LevelWeights.from_mapping(best_t["weights"]),
                           image_to_text=LevelWeights.from_mapping(best_i["weights"]),
                           image_to_image=LevelWeights.from_mapping(best_s["weights"]) if best_s else cur.image_to_image)
    baseline = next(r for r in results if r["weights"]["global"] == 1.0)
    version = write_fusion(index, chosen, scored=state.version) if write else None
    return {"split": split, "grid_step": step, "grid": results, "written_version": version,
            "chosen": {"weights": chosen.as_dict(), "t2i": best_t["t2i"], "i2t": best_i["i2t"],
                       "mR": mean_recall(best_t["t2i"], best_i["i2t"]),
                       f"i2i_mAP@{MAP_K}": best_s[f"i2i_mAP@{MAP_K}"] if best_s else None,
                       "image_to_image_tuned": best_s is not None},
            "one_triple": _nearest(results, lambda r: r["mR"], cur.text_to_image), "global_only": baseline,
            "match": MatchRule.IMAGE.as_json(), "orientations": state.manifest.model.orientations,
            "n_queries": {"t2i": len(entries), "i2t": len(captioned), "i2i": len(labels)}}


def write_fusion(index: Path, weights: FusionWeights, scored: str | None = None) -> str:
    """Publish a new index version whose manifest carries ``weights`` (files hard-linked from the
    current version), so running servers switch to them like to any new version. Returns it.

    ``scored``: the version the weights were tuned on; refused if another version went live since."""
    idx = IndexDir(index)
    with idx.lock():
        current = idx.current()
        if current is None:
            raise FileNotFoundError(f"{index} has no published version")
        if scored is not None and current != scored:
            raise ValueError(f"{index} moved from version {scored} to {current} while tuning; tune again")
        manifest = idx.manifest(current).model_copy(update={"fusion": weights})
        version = idx.publish_manifest(manifest, based_on=current)
    log.info("fusion weights %s published as version %s", weights.spec(), version)
    return version


def check_checkpoint(path: Path) -> dict:
    """Load a ``geoseek train`` checkpoint or raise ValueError saying why it is not one."""
    from geoseek.models.checkpoints import load_checkpoint

    try:
        ckpt = load_checkpoint(path)  # a file that would run code raises ModelSpecError (a ValueError) saying so
    except (OSError, EOFError, RuntimeError, KeyError) as exc:
        raise ValueError(f"{path}: not a readable checkpoint ({type(exc).__name__})") from exc
    if not isinstance(ckpt, dict) or "model_cfg" not in ckpt or "state_dict" not in ckpt:
        raise ValueError(f"{path} is not a geoseek checkpoint")
    return ckpt


def set_checkpoint_fusion(path: Path, weights: FusionWeights, orientations: int = 1) -> None:
    """Store recommended fusion weights (per direction) in a ``geoseek train`` checkpoint (atomic rewrite), with the
    orientation count of the index they were tuned on: new indexes built with the file use both.

    The model's identity (config and weights) does not change, so indexes built with the file
    keep accepting it."""
    from geoseek.models.training.checkpoint import save_atomic

    ckpt = check_checkpoint(path)
    ckpt["fusion"] = weights.as_dict()
    ckpt["orientations"] = int(orientations)
    save_atomic(ckpt, Path(path))
