"""Training data: a dataset.json split decoded once into memory, and its captions as string ids.

Images are decoded and resized to the model's input size once (the same bicubic squash the
Encoder applies at index time), so an epoch costs only augmentation and the model itself.
Captions are deduplicated by exact string: RSICD repeats captions across images, and every
image that carries a string is a positive for it (multi-positive contrastive targets).
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from geoseek.datasets.sources import DatasetError, read_dataset

log = logging.getLogger(__name__)


@dataclass
class CaptionedImages:
    """One split in memory.

    pixels: (N, 3, S, S) uint8; captions: the unique caption strings (M,);
    caption_ids: per image, the id (into ``captions``) of each caption entry, repeats kept; names: image paths.
    """

    pixels: torch.Tensor
    captions: list[str]
    caption_ids: list[list[int]]
    names: list[str]

    def __len__(self) -> int:
        return int(self.pixels.shape[0])

    def positives(self) -> list[set[int]]:
        """Per caption id, the image rows that carry that exact string."""
        out: list[set[int]] = [set() for _ in self.captions]
        for row, ids in enumerate(self.caption_ids):
            for c in ids:
                out[c].add(row)
        return out


def _load_pixels(path: Path, size: int) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB").resize((size, size), Image.BICUBIC), dtype=np.uint8)


def load_split(dataset: str | Path, split: str, image_size: int, *, limit: int | None = None,
               workers: int = 2, image_dir: str | Path | None = None) -> CaptionedImages:
    """Read the ``split`` images of a Karpathy dataset.json with at least one caption.

    ``limit`` keeps the first N images (tests, quick runs). ``image_dir``: the folder holding the
    json's images (default: found next to it, as `geoseek index` finds it). Raises DatasetError
    when the split is empty, so a typo in ``--split`` is not a silent no-op.
    """
    items, skipped = read_dataset(Path(dataset), Path(image_dir) if image_dir else None)
    chosen = [it for it in items if it.split == split and any(c.strip() for c in it.captions)]
    if limit is not None:
        chosen = chosen[:limit]
    if not chosen:
        splits = sorted({str(it.split) for it in items})
        raise DatasetError(f"{dataset}: no captioned images in split '{split}' (splits present: {', '.join(splits)})")
    if skipped:
        log.info("%d input(s) of %s skipped while reading (missing files or empty captions)", len(skipped), dataset)
    text_ids: dict[str, int] = {}
    caption_ids = []
    for it in chosen:
        ids = [text_ids.setdefault(c.strip(), len(text_ids)) for c in it.captions if c.strip()]
        caption_ids.append(ids)
    paths = [it.paths[0] for it in chosen]
    with ThreadPoolExecutor(max(1, workers)) as pool:
        arrays = list(pool.map(lambda p: _load_pixels(p, image_size), paths))
    pixels = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    log.info("split %s: %d images, %d unique captions, %dx%d px", split, len(chosen), len(text_ids), image_size, image_size)
    return CaptionedImages(pixels, list(text_ids), caption_ids, [str(p) for p in paths])
