"""Localisation figures for ``geoseek bench scenes``: does a hit's returned box sit on an object of the queried class?

Each scored hit is one box (source pixels, xyxy) in one scene, with the ground-truth boxes of
the queried class in that scene. Per box:

- ``contains``: the box holds the centre of at least one ground-truth box (edges included);
- ``area_share``: the box's area over the scene's area (0..1): a whole-image box trivially
  contains every object, so this says what the figure cost;
- ``iou``: the largest IoU with a ground-truth box (torchvision.ops.box_iou).

Chance: the same box sizes placed uniformly at random inside the same scenes (``draws`` seeded
placements per box), scored the same way and pooled over all placements. A random box has the
same area as the real one, so its area share is the real one's; ``gt_area_share`` (the mean area
share of the ground-truth boxes of the class in the hit scenes) is given instead as the ideal.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torchvision.ops import box_iou

DRAWS = 100  # random placements per scored box: the chance figures vary by < 0.01 between seeds at this count
IOU_HIT = 0.5  # the detection field's usual threshold for a correct box


@dataclass
class ScoredHit:
    """One relevant hit of one query: the scene's frame, the class's ground truth, the box per level."""

    width: int  # scene width (px)
    height: int  # scene height (px)
    gt: np.ndarray  # (m, 4) float64 xyxy pixel boxes of the queried class in this scene, m >= 1
    boxes: dict[str, tuple[int, int, int, int] | None]  # level -> returned xyxy box, None when the level gave none


def box_scores(boxes: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For boxes (n, 4) xyxy in one scene and its ground truth (m, 4) xyxy: (contains a gt centre (n,) bool,
    max IoU with a gt box (n,) float64)."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    g = np.asarray(gt, np.float64).reshape(-1, 4)
    if len(b) == 0 or len(g) == 0:
        return np.zeros(len(b), bool), np.zeros(len(b))
    cx, cy = (g[:, 0] + g[:, 2]) / 2, (g[:, 1] + g[:, 3]) / 2
    inside = ((b[:, None, 0] <= cx) & (cx <= b[:, None, 2]) & (b[:, None, 1] <= cy) & (cy <= b[:, None, 3]))
    iou = box_iou(torch.from_numpy(b), torch.from_numpy(g)).max(dim=1).values.numpy()
    return inside.any(axis=1), iou.astype(np.float64)


def random_placements(box: tuple[int, int, int, int], width: int, height: int, draws: int,
                      rng: np.random.Generator) -> np.ndarray:
    """(draws, 4) xyxy boxes of ``box``'s size (clipped to the scene) at uniformly random positions inside the scene."""
    w = min(box[2] - box[0], width)
    h = min(box[3] - box[1], height)
    x0 = rng.uniform(0, width - w, draws)
    y0 = rng.uniform(0, height - h, draws)
    return np.stack([x0, y0, x0 + w, y0 + h], axis=1)


def summarise(contains: np.ndarray, iou: np.ndarray, area_share: np.ndarray) -> dict[str, float | int | None]:
    """Pooled figures of scored boxes (all (n,)): n, contains, area_share, iou_mean, iou_median, iou_ge_50 (0..1)."""
    if len(iou) == 0:
        return {"n": 0, "contains": None, "area_share": None, "iou_mean": None, "iou_median": None, "iou_ge_50": None}
    return {"n": int(len(iou)), "contains": float(np.mean(contains)), "area_share": float(np.mean(area_share)),
            "iou_mean": float(np.mean(iou)), "iou_median": float(np.median(iou)),
            "iou_ge_50": float(np.mean(iou >= IOU_HIT))}


def level_figures(hits: list[ScoredHit], level: str, draws: int = DRAWS, seed: int = 0) -> dict:
    """Figures of ``level``'s boxes over the hits that have one, with ``chance`` (random placements, seeded)
    and ``gt_area_share`` beside them; JSON-ready."""
    rng = np.random.default_rng(seed)
    contains, iou, area, gt_area = [], [], [], []
    chance_contains, chance_iou = [], []
    for hit in hits:
        box = hit.boxes.get(level)
        if box is None:
            continue
        scene = float(hit.width * hit.height)
        c, i = box_scores(np.array([box]), hit.gt)
        contains.append(c[0])
        iou.append(i[0])
        area.append((box[2] - box[0]) * (box[3] - box[1]) / scene)
        gt_area.append(float(np.mean((hit.gt[:, 2] - hit.gt[:, 0]) * (hit.gt[:, 3] - hit.gt[:, 1]))) / scene)
        rc, ri = box_scores(random_placements(box, hit.width, hit.height, draws, rng), hit.gt)
        chance_contains.append(rc)
        chance_iou.append(ri)
    out = summarise(np.array(contains, bool), np.array(iou), np.array(area))
    if not iou:
        out["chance"] = summarise(np.zeros(0, bool), np.zeros(0), np.zeros(0))
        out["gt_area_share"] = None
        return out
    pooled_c, pooled_i = np.concatenate(chance_contains), np.concatenate(chance_iou)
    out["chance"] = summarise(pooled_c, pooled_i, np.repeat(area, draws))
    out["gt_area_share"] = float(np.mean(gt_area))
    return out
