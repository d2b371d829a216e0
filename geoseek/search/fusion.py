"""Hierarchical score fusion: exact per-level rescoring of candidate images, pooled by max.

score = w_g * s_global + w_r * max(s_region) + w_o * s_object, weights normalised over
the levels in use; s_object is the max over object views, or for dense-grid cells the token-wise
late interaction they are trained with (mean over query tokens of each token's best cell). The region pool includes the global view (the quadtree's root), so an image
too small to have region views still has a region score; an image with no object views uses its
region score for the object term.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from geoseek.index.columns import read_rows
from geoseek.index.version import LevelData


@dataclass
class LevelScores:
    score: np.ndarray  # (n_candidates,) float32, -inf where the image has no allowed view
    best_row: np.ndarray  # (n_candidates,) int64 row of the best view, -1 where none


def rescore_level(level: LevelData, candidates: np.ndarray, queries: np.ndarray,
                  row_mask: np.ndarray | None = None, late: bool = False) -> LevelScores:
    """Each candidate image's score against (m, D) ``queries``; exact, vectorised.

    ``late`` False: the max over (query x the candidate's views) of the inner product.
    ``late`` True, token-wise late interaction (FILIP, what the object loss trains): the mean over
    queries of each query's best view. The best row is then the view with the highest mean similarity.
    """
    starts, ends = level.starts[candidates], level.ends[candidates]
    lengths = ends - starts
    score = np.full(len(candidates), -np.inf, np.float32)
    best = np.full(len(candidates), -1, np.int64)
    if lengths.sum() == 0:
        return LevelScores(score, best)
    # All candidates' row ranges, flattened without a Python loop: start of each range + offset in it.
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    rows = np.repeat(starts, lengths) + offsets
    sims = read_rows(level.vectors, rows) @ queries.T.astype(np.float32)  # (rows, m)
    if row_mask is not None:
        sims = np.where(row_mask[rows][:, None], sims, -np.inf)
    has = lengths > 0
    runs = (np.cumsum(lengths) - lengths)[has]  # each non-empty candidate's first position in ``rows``
    per_query = np.maximum.reduceat(sims, runs, axis=0)  # (non-empty candidates, m): each query's best view
    score[has] = per_query.mean(axis=1) if late else per_query.max(axis=1)
    row_score = reduce_queries(sims, late)
    row_best = np.full(len(candidates), -np.inf, np.float32)
    row_best[has] = np.maximum.reduceat(row_score, runs)
    # The row that achieved each image's best row score (first on ties). ``owner`` is non-decreasing, so
    # np.unique's first index per owner is the first best row of each candidate.
    owner = np.repeat(np.arange(len(candidates)), lengths)
    is_best = np.flatnonzero(row_score == row_best[owner])
    owners, first = np.unique(owner[is_best], return_index=True)
    hit = np.isfinite(score[owners])
    best[owners[hit]] = rows[is_best[first[hit]]]
    return LevelScores(score, best)


def reduce_queries(sims: np.ndarray, late: bool) -> np.ndarray:
    """(n, m) similarities of n items to m query vectors -> (n,): their mean under late interaction, else the max."""
    return sims.mean(axis=1) if late else sims.max(axis=1)


def weighted_sum(scores: Mapping[str, np.ndarray | float], weights: Mapping[str, float]) -> np.ndarray | float:
    """The one fused score: sum over ``weights``' levels of weight x that level's score.

    scores: level -> (n,) array or a scalar; weights: level -> weight, already normalised
    (LevelWeights.normalised). Every fused number GeoSeek reports comes from here.
    """
    total = 0.0
    for level, w in weights.items():
        total = total + w * scores[level]
    return total


def fuse(per_level: dict[str, LevelScores], weights: dict[str, float]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Fused scores (n,) and the per-level scores after the pooling fall-backs."""
    g = per_level["global"].score
    pooled = {"global": g}
    if "region" in per_level:
        pooled["region"] = np.maximum(per_level["region"].score, g)
    if "object" in per_level:
        fallback = pooled.get("region", g)
        obj = per_level["object"].score
        pooled["object"] = np.where(np.isfinite(obj), obj, fallback)
    return np.asarray(weighted_sum(pooled, weights), np.float32), pooled
