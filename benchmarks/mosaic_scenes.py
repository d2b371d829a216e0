"""Large scenes made from a captioned split: a validation set for scene retrieval that is not a benchmark we report.

    python benchmarks/mosaic_scenes.py BUILT/rsicd/dataset_rsicd.json OUT [--split val] [--grid 3] [--seed 0]

Each scene is a GRIDxGRID mosaic of the split's images at their own resolution (RSICD: 224 px chips -> 672 px
scenes), in a seeded shuffle; an image that does not fill a whole scene is left out. ``--grid 1,2,3,4`` mixes
sizes, scene by scene in that cycle (a grid of 1 is the chip itself): an archive of scenes of different sizes,
whose images have different numbers of views, which is what a correction of the fusion for view counts must be
chosen on. OUT/dataset.json is
Karpathy-style: one image per scene, split ``scenes``, carrying every caption of its tiles, plus ``tiles``
(file name and box of each tile). Then `geoseek bench recall --split scenes` is scene retrieval by the standard own-image
rule: a tile's caption is a query whose only correct scene is the one holding the tile, so the tile covers
1/GRID^2 of the scene, as a small object covers a little of an NWPU VHR-10 scene. Being built from RSICD val,
it is a split fusion weights and checkpoints may be chosen on; NWPU VHR-10 stays a benchmark scored once.
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from PIL import Image


def build(dataset: Path, out: Path, split: str = "val", grid: int | tuple[int, ...] = 3, seed: int = 0) -> dict:
    """Write the scenes (JPEG, quality 95) and OUT/dataset.json; return a summary (counts, sizes).

    grid: tiles per side of every scene, or a cycle of such sides for scenes of mixed sizes."""
    from geoseek.datasets.sources import read_dataset  # the reader `geoseek index` uses: the same files and captions

    grids = (grid,) if isinstance(grid, int) else tuple(grid)
    if not grids or min(grids) < 1:
        raise SystemExit(f"--grid: tiles per side must be >= 1, got {grids}")
    items, _ = read_dataset(dataset, splits=[split])
    items = [it for it in items if it.split == split and any(c.strip() for c in it.captions)]
    if not items:
        raise SystemExit(f"{dataset}: no captioned images in split '{split}'")
    random.Random(seed).shuffle(items)
    (out / "scenes").mkdir(parents=True, exist_ok=True)
    scenes, sizes, used = [], {}, 0
    while used + grids[len(scenes) % len(grids)] ** 2 <= len(items):
        g = grids[len(scenes) % len(grids)]
        members = items[used : used + g * g]
        used += g * g
        tiles = [Image.open(it.paths[0]).convert("RGB") for it in members]
        side = tiles[0].size[0]  # every tile at the first one's size (RSICD: all 224 px)
        canvas = Image.new("RGB", (side * g, side * g))
        boxes = []
        for k, (it, tile) in enumerate(zip(members, tiles)):
            y, x = divmod(k, g)
            canvas.paste(tile.resize((side, side), Image.BICUBIC), (x * side, y * side))
            boxes.append({"file": Path(str(it.paths[0])).name, "box": [x * side, y * side, (x + 1) * side, (y + 1) * side]})
        name = f"scene_{len(scenes):04d}.jpg"
        canvas.save(out / "scenes" / name, quality=95)
        sizes[g] = side * g
        sentences = [{"raw": c.strip()} for it in members for c in it.captions if c.strip()]
        scenes.append({"filename": name, "filepath": "scenes", "split": "scenes", "sentences": sentences,
                       "tiles": boxes})
    (out / "dataset.json").write_text(json.dumps({"dataset": f"mosaics of {dataset.name} {split}", "images": scenes}))
    return {"scenes": len(scenes), "grid": list(grids), "scene_px": {str(g): px for g, px in sorted(sizes.items())},
            "tiles": used, "left_out": len(items) - used, "captions": sum(len(s["sentences"]) for s in scenes)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--split", default="val")
    ap.add_argument("--grid", type=lambda v: tuple(int(x) for x in v.split(",")), default=(3,),
                    help="tiles per side, or a comma-separated cycle of them for scenes of mixed sizes (default 3)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    print(json.dumps(build(a.dataset, a.out, a.split, a.grid, a.seed)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
