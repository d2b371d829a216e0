"""Recall@K for cross-modal retrieval (the RemoteCLIP / GeoRSCLIP definitions), via torchmetrics.

A query is a hit at K when one of its relevant items is among its top K results. Callers pass,
per query, the ranked candidates' relevance as a (Q, K) bool array; candidates beyond the list
count as misses, so a list of length 10 scores R@1/5/10 exactly.
"""
from __future__ import annotations

import numpy as np
import torch
from torchmetrics.retrieval import RetrievalHitRate

from geoseek.schemas.bench import MatchRule

KS = (1, 5, 10)


def recall_at_k(relevant: np.ndarray, ks: tuple[int, ...] = KS) -> dict[str, float]:
    """(Q, K) bool, column j = the query's rank-j result is relevant -> {'R@k': percent}."""
    rel = torch.as_tensor(np.asarray(relevant, dtype=bool))
    q, k = rel.shape
    if q == 0:
        raise ValueError("no queries to score")
    if k < max(ks):
        raise ValueError(f"ranked lists hold {k} results; R@{max(ks)} needs at least {max(ks)}")
    preds = torch.arange(k, 0, -1, dtype=torch.float32).expand(q, k)  # rank order, ties kept as ranked
    indexes = torch.arange(q).unsqueeze(1).expand(q, k)
    out = {}
    for kk in ks:
        metric = RetrievalHitRate(top_k=kk, empty_target_action="neg")
        out[f"R@{kk}"] = round(100.0 * float(metric(preds.flatten(), rel.flatten(), indexes=indexes.flatten())), 2)
    return out


def mean_recall(t2i: dict[str, float], i2t: dict[str, float]) -> float:
    """mR: the mean of the R@K figures of both directions (six for K = 1, 5, 10; percent)."""
    vals = list(t2i.values()) + list(i2t.values())
    return round(float(np.mean(vals)), 2)


def _pad(relevant: np.ndarray, k: int) -> np.ndarray:
    """Ranked lists shorter than k (a gallery smaller than k) end in misses."""
    return np.pad(relevant, ((0, 0), (0, k - relevant.shape[1]))) if relevant.shape[1] < k else relevant


def _ranked(scores: torch.Tensor, k: int) -> np.ndarray:
    """(Q, N) -> (Q, min(k, N)) column ids, best first; equal scores in column order, as the search engine ranks
    (RSICD repeats captions across images, so ties are common and decide image->text hits)."""
    return torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :k].numpy()


def dense_recall(image_vecs: np.ndarray, text_vecs: np.ndarray, caption_ids: list[list[int]],
                 ks: tuple[int, ...] = KS, match: MatchRule = MatchRule.IMAGE) -> dict:
    """Both directions from full similarity, one global vector per image.

    image_vecs (N, D) and text_vecs (M, D) L2-normalised, M unique caption strings;
    caption_ids[i]: the caption ids of image i, one per caption entry (repeats kept).
    Queries and candidates are caption *entries*, as in the RSICD protocol: image->text ranks
    every entry and hits on the image's own; text->image hits on the entry's own image
    (``MatchRule.IMAGE``, the standard rule) or, leniently, on any image carrying the
    identical string (``MatchRule.CAPTION``).
    """
    return score_recall(image_vecs @ text_vecs.T, caption_ids, ks=ks, match=match)


def score_recall(i2t_scores: np.ndarray, caption_ids: list[list[int]], t2i_scores: np.ndarray | None = None,
                 ks: tuple[int, ...] = KS, match: MatchRule = MatchRule.IMAGE) -> dict:
    """``dense_recall`` from score matrices: (N images, M unique captions), higher = better.

    ``i2t_scores`` ranks captions for each image; ``t2i_scores`` (default: the same matrix) ranks
    images for each caption, for scorers that are not symmetric (token-level late interaction).
    """
    kmax = max(ks)
    owner = np.array([i for i, ids in enumerate(caption_ids) for _ in ids])
    entry_cid = torch.from_numpy(np.array([c for ids in caption_ids for c in ids]))
    entry_sim = torch.as_tensor(i2t_scores)[:, entry_cid]  # (N, E)
    top_t = _ranked(entry_sim, kmax)  # (N, <=K) entries
    i2t = recall_at_k(_pad(owner[top_t] == np.arange(len(caption_ids))[:, None], kmax), ks)
    t2i_sim = entry_sim if t2i_scores is None else torch.as_tensor(t2i_scores)[:, entry_cid]
    top_i = _ranked(t2i_sim.t(), kmax)  # (E, <=K) images
    entry_cid = entry_cid.numpy()
    if match is MatchRule.IMAGE:
        rel = top_i == owner[:, None]
    else:
        carriers: dict[int, set[int]] = {}
        for i, ids in enumerate(caption_ids):
            for c in ids:
                carriers.setdefault(c, set()).add(i)
        rel = np.array([[img in carriers[c] for img in row] for c, row in zip(entry_cid, top_i)])
    t2i = recall_at_k(_pad(rel, kmax), ks)
    return {"t2i": t2i, "i2t": i2t, "mR": mean_recall(t2i, i2t), "match": match.as_json(),
            "n_queries": {"t2i": len(entry_cid), "i2t": len(caption_ids)}}
