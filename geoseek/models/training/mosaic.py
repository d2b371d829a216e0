"""Multi-instance mosaics: 2x2 tiles of four train images in one input, so a part of a view learns to
stand for its own caption (what region and object views of a large scene must do at search time).

A mosaic carries every caption of its four tiles: the global loss treats each as a positive (a scene
"holds" what any of its parts shows, the relevance rule of scene retrieval), and the caption sampled
for the region and object losses is one tile's, so their multiple-instance max and token-wise late
interaction must find that tile's windows and cells among the others'. Each tile is its image shrunk
to half the side, i.e. the scale at which DRIS region tiles of a large scene show their content.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

TILES = 2  # tiles per side


@dataclass
class MosaicBatch:
    """pixels (B, 3, S, S) uint8; caption_ids: per slot, the caption ids that are its positives;
    sample_from: per slot, the caption ids its region/object caption is drawn from (one tile's for a mosaic)."""

    pixels: torch.Tensor
    caption_ids: list[list[int]]
    sample_from: list[list[int]]
    mosaics: int


def _shrink(pixels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(n, 3, S, S) uint8 -> (n, 3, h, w) uint8, antialiased like the Encoder's downsampling of a large view."""
    small = F.interpolate(pixels.float(), size=size, mode="bilinear", antialias=True, align_corners=False)
    return small.round_().clamp_(0, 255).to(torch.uint8)


def mosaic_batch(pixels: torch.Tensor, caption_ids: list[list[int]], rows: torch.Tensor, fraction: float,
                 gen: torch.Generator) -> MosaicBatch:
    """The batch of train ``rows``, a ``fraction`` of its slots (rounded down) replaced by 2x2 mosaics.

    pixels: the whole split (N, 3, S, S) uint8; caption_ids: per image of the split. A mosaic slot keeps
    its own image as one tile (at a random corner) and adds three other images drawn from the split.
    All draws come from ``gen``. ``fraction`` 0 returns the plain batch.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"mosaic fraction must be between 0 and 1; got {fraction}")
    batch = pixels[rows].clone()
    ids = [list(caption_ids[int(r)]) for r in rows]
    sample_from = [list(x) for x in ids]
    n_mosaic = int(len(rows) * fraction)
    side = pixels.shape[-1]
    edges = [round(k * side / TILES) for k in range(TILES + 1)]  # tile k spans edges[k]:edges[k + 1]
    if n_mosaic == 0 or min(b - a for a, b in zip(edges, edges[1:])) < 1:
        return MosaicBatch(batch, ids, sample_from, 0)
    slots = torch.randperm(len(rows), generator=gen)[:n_mosaic]
    for slot in slots.tolist():
        others = torch.randint(len(pixels), (TILES * TILES - 1,), generator=gen)
        members = torch.cat([rows[slot : slot + 1], others])
        members = members[torch.randperm(len(members), generator=gen)]  # the slot's own image at a random corner
        for k, m in enumerate(members.tolist()):
            y, x = divmod(k, TILES)
            (y0, y1), (x0, x1) = edges[y : y + 2], edges[x : x + 2]
            batch[slot, :, y0:y1, x0:x1] = _shrink(pixels[m : m + 1], (y1 - y0, x1 - x0))[0]
        tile_ids = [list(caption_ids[int(m)]) for m in members]
        ids[slot] = sorted({c for t in tile_ids for c in t})
        sample_from[slot] = tile_ids[int(torch.randint(len(tile_ids), (1,), generator=gen))]
    return MosaicBatch(batch, ids, sample_from, n_mosaic)
