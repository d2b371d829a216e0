"""The MS-VLAM multi-level contrastive loss: global, region (multiple-instance) and object (FILIP).

All three are symmetric InfoNCE losses with *multi-positive* targets: a caption string carried
by several images in the batch (RSICD repeats captions) is a positive for each of them, rather
than a false negative.

- global: pooled image vector vs sentence vector.
- region: the best of an image's region views vs the caption (multiple-instance learning). The
  region views are window means of the dense grid from the same forward pass (every k x k
  window, k ~ 0.6 of the grid side), so they cost no extra encoder call.
- object: FILIP token-wise late interaction between the caption's content tokens and the
  dense patch embeddings; image->text averages over patches the best token, text->image
  averages over tokens the best patch.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from geoseek.models.dense import REGION_WINDOW_FRAC, window_side
from geoseek.schemas.levels import LevelWeights

MAX_LOGIT_SCALE = 100.0


def nce_rows(logits: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
    """Multi-positive InfoNCE over rows: -log(sum of softmax mass on each row's positives).

    logits (R, C) float; positive (R, C) bool. Rows without a positive are ignored.
    """
    has = positive.any(dim=1)
    pos_logits = logits.masked_fill(~positive, float("-inf"))
    loss = torch.logsumexp(logits, dim=1) - torch.logsumexp(pos_logits, dim=1)
    return loss[has].mean() if has.any() else logits.sum() * 0.0


def symmetric_nce(i2t: torch.Tensor, t2i: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
    """Mean of image->text (rows of ``i2t``) and text->image (columns of ``t2i``) InfoNCE; all (B, M)."""
    return 0.5 * (nce_rows(i2t, positive) + nce_rows(t2i.t(), positive.t()))


def region_views(dense: torch.Tensor, frac: float = REGION_WINDOW_FRAC) -> torch.Tensor:
    """(B, h, w, D) L2-normalised cells -> (B, V, D) L2-normalised window means (all k x k windows)."""
    b, h, w, d = dense.shape
    kh, kw = window_side(h, frac), window_side(w, frac)
    grid = dense.permute(0, 3, 1, 2)
    pooled = F.avg_pool2d(grid, (kh, kw), stride=1)  # (B, D, h-kh+1, w-kw+1)
    return F.normalize(pooled.flatten(2).transpose(1, 2), dim=-1)


def filip_scores(cells: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Token-wise late interaction. cells (B, P, D), tokens (M, T, D) normalised; mask (M, T) bool.

    Returns image->text (B, M) = mean over patches of the best content token, and
    text->image (B, M) = mean over content tokens of the best patch. A caption with no
    content token scores 0.
    """
    sim = torch.einsum("bpd,mtd->bmpt", cells, tokens)  # (B, M, P, T)
    m = mask[None, :, None, :]
    best_token = sim.masked_fill(~m, float("-inf")).amax(dim=3)  # (B, M, P)
    empty = ~mask.any(dim=1)
    best_token = best_token.masked_fill(empty[None, :, None], 0.0)
    i2t = best_token.mean(dim=2)
    best_patch = sim.amax(dim=2)  # (B, M, T)
    count = mask.sum(dim=1).clamp(min=1)
    t2i = (best_patch * mask[None]).sum(dim=2) / count[None]
    return i2t, t2i


DEFAULT_LOSS_WEIGHTS = LevelWeights.of(1.0, 0.5, 0.5)  # ``--loss-weights`` default


class MSVLAMLoss(nn.Module):
    """Weighted sum of the three level losses. Holds the region/object temperatures (learned).

    The global temperature is the model's own ``logit_scale`` (passed in), as in CLIP.
    """

    def __init__(self, weights: LevelWeights = DEFAULT_LOSS_WEIGHTS) -> None:
        super().__init__()
        self.weights = weights
        self.region_logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.object_logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    @staticmethod
    def _scale(p: torch.Tensor) -> torch.Tensor:
        return p.exp().clamp(max=MAX_LOGIT_SCALE)

    def forward(self, image: torch.Tensor, dense: torch.Tensor, logit_scale: torch.Tensor,
                sentences: torch.Tensor, sentence_pos: torch.Tensor,
                sampled: torch.Tensor, sampled_tokens: torch.Tensor, sampled_mask: torch.Tensor,
                sampled_pos: torch.Tensor) -> dict[str, torch.Tensor]:
        """image (B, D) and dense (B, h, w, D) unnormalised; sentences (M, D) with sentence_pos (B, M);
        one sampled caption per image: sampled (B', D), tokens (B', T, D), mask (B', T), sampled_pos (B, B').
        Returns {'loss', 'global', 'region', 'object'} (scalars)."""
        img = F.normalize(image, dim=-1)
        cells = F.normalize(dense, dim=-1)
        out: dict[str, torch.Tensor] = {}
        g = self._scale(logit_scale) * img @ sentences.t()
        out["global"] = symmetric_nce(g, g, sentence_pos)
        regions = region_views(cells)
        r = self._scale(self.region_logit_scale) * torch.einsum("bvd,md->bmv", regions, sampled).amax(dim=2)
        out["region"] = symmetric_nce(r, r, sampled_pos)
        i2t, t2i = filip_scores(cells.flatten(1, 2), sampled_tokens, sampled_mask)
        s = self._scale(self.object_logit_scale)
        out["object"] = symmetric_nce(s * i2t, s * t2i, sampled_pos)
        w = self.weights
        out["loss"] = w.global_ * out["global"] + w.region * out["region"] + w.object * out["object"]
        return out
