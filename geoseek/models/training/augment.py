"""Batch augmentations for overhead imagery, on uint8 batches, driven by an explicit Generator.

Overhead images have no canonical "up": 90-degree rotations and flips are label-preserving.
Crops stay mild (captions describe the whole scene) and colour jitter is small (colour carries
meaning: water, vegetation, bare soil). Every random draw comes from the generator passed in,
so an epoch is reproducible from its seed.
"""
from __future__ import annotations

import math

import torch
from torchvision.ops import roi_align

from geoseek.models.encoder import OPENAI_MEAN, OPENAI_STD


def _uniform(gen: torch.Generator, n: int, lo: float, hi: float) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=gen)


def random_resized_crop(x: torch.Tensor, gen: torch.Generator, scale: tuple[float, float] = (0.64, 1.0),
                        ratio: tuple[float, float] = (0.8, 1.25)) -> torch.Tensor:
    """(N, 3, S, S) float -> (N, 3, S, S): one crop per image (area fraction in ``scale``), resized back."""
    n, _, h, w = x.shape
    area = _uniform(gen, n, *scale)
    log_r = _uniform(gen, n, math.log(ratio[0]), math.log(ratio[1]))
    r = torch.exp(log_r)
    cw = torch.clamp(torch.sqrt(area * r) * w, max=w)
    ch = torch.clamp(torch.sqrt(area / r) * h, max=h)
    x0 = torch.rand(n, generator=gen) * (w - cw)
    y0 = torch.rand(n, generator=gen) * (h - ch)
    boxes = torch.stack([torch.arange(n, dtype=torch.float32), x0, y0, x0 + cw, y0 + ch], dim=1)
    return roi_align(x, boxes, output_size=(h, w), spatial_scale=1.0, sampling_ratio=2, aligned=True)


def dihedral(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A random element of the 8-element dihedral group (rot90 x flip) per image."""
    k = torch.randint(0, 4, (x.shape[0],), generator=gen)
    flip = torch.rand(x.shape[0], generator=gen) < 0.5
    out = x.clone()
    for turns in range(1, 4):
        sel = k == turns
        if sel.any():
            out[sel] = torch.rot90(x[sel], turns, dims=(2, 3))
    out[flip] = out[flip].flip(3)
    return out


def colour_jitter(x: torch.Tensor, gen: torch.Generator, strength: float = 0.15) -> torch.Tensor:
    """Brightness, contrast and saturation, each scaled by a factor in [1-strength, 1+strength]; x in [0, 1]."""
    n = x.shape[0]
    b, c, s = (_uniform(gen, n, 1 - strength, 1 + strength).view(n, 1, 1, 1) for _ in range(3))
    x = x * b
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * c + mean
    grey = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
    x = (x - grey) * s + grey
    return x.clamp_(0.0, 1.0)


def normalise(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] pixels -> the CLIP-normalised input the Encoder feeds the model."""
    mean = torch.tensor(OPENAI_MEAN, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(OPENAI_STD, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - mean) / std


def augment(batch: torch.Tensor, gen: torch.Generator, enabled: bool = True) -> torch.Tensor:
    """(N, 3, S, S) uint8 -> normalised float model input; ``enabled=False`` is the evaluation path."""
    x = batch.float().div_(255.0)
    if enabled:
        x = colour_jitter(dihedral(random_resized_crop(x, gen), gen), gen)
    return normalise(x)
