"""Dense (patch-level) image embeddings in the joint space, from one forward pass.

ViT: the patch tokens after ``ln_post`` through the image projection.
ModifiedResNet (CLIP RN): MaskCLIP-style, each feature-map cell through the attention pool's
value and output projections, i.e. the vectors the pooled embedding is a convex combination of.
Other towers fall back to a 1x1 grid holding the pooled vector.
"""
from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from open_clip.modified_resnet import ModifiedResNet
from open_clip.transformer import VisionTransformer

log = logging.getLogger(__name__)

# Region windows of a dense grid span this share of each side (3 x 3 of a 5 x 5 grid): what the MS-VLAM region
# loss scores (training.losses.region_views) and what search returns as a hit's object box (search.object_box).
REGION_WINDOW_FRAC = 0.6


def window_side(cells: int, frac: float = REGION_WINDOW_FRAC) -> int:
    """Cells along one side of a region window on a grid side of ``cells`` cells (at least 1)."""
    return max(1, round(frac * cells))


def _vit_forward(visual: VisionTransformer, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = visual._embeds(pixels)
    x = visual.transformer(x)
    pooled, tokens = visual._pool(x)
    if visual.final_ln_after_pool:
        tokens = visual.ln_post(tokens)
    if visual.proj is not None:
        pooled = pooled @ visual.proj
        tokens = tokens @ visual.proj
    n, t, d = tokens.shape
    side = int(round(t**0.5))
    if side * side != t:  # non-square grids or prefix tokens we do not know how to lay out
        return pooled, pooled[:, None, None, :]
    return pooled, tokens.reshape(n, side, side, d)


def _resnet_forward(visual: ModifiedResNet, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = visual.stem(pixels)
    x = visual.layer4(visual.layer3(visual.layer2(visual.layer1(x))))
    pool = visual.attnpool
    pooled = pool(x)
    n, c, h, w = x.shape
    cells = x.reshape(n, c, h * w).permute(0, 2, 1)  # (N, HW, C)
    cells = cells + pool.positional_embedding[1:].to(cells.dtype)
    dense = F.linear(F.linear(cells, pool.v_proj.weight, pool.v_proj.bias), pool.c_proj.weight, pool.c_proj.bias)
    return pooled, dense.reshape(n, h, w, -1)


def forward_with_dense(visual: torch.nn.Module, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the image tower once; return pooled (N, D) and dense (N, h, w, D), both unnormalised."""
    if isinstance(visual, VisionTransformer) and visual.attn_pool is None:
        return _vit_forward(visual, pixels)
    if isinstance(visual, ModifiedResNet):
        return _resnet_forward(visual, pixels)
    pooled = visual(pixels)
    if isinstance(pooled, tuple):
        pooled = pooled[0]
    return pooled, pooled[:, None, None, :]
