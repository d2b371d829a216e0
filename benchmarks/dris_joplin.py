"""DRIS on the Joplin tornado scene: encoder calls vs uniform native-resolution tiling.

Plans views for the stitched post-event mosaic (JPEG) and for its six GeoTIFF tiles read as one
scene, with the default model's encoder input (160 px). Prints both counts, the building density
of DRIS leaves vs the whole scene (from the 975 ground-truth building boxes), and a threshold
sweep; writes benchmarks/results/dris_joplin.json and dris_joplin_tree.png.

    python benchmarks/dris_joplin.py
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from geoseek.views.planner import ViewNode, plan_uniform, plan_views, thumbnail_side
from geoseek.views.rasters import open_raster
from geoseek.schemas import DRISParams

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "joplin_xview2"
OUT = ROOT / "benchmarks" / "results"
SIDE = 160  # the default model's encoder input
COLOURS = [(255, 255, 255), (255, 220, 0), (255, 140, 0), (255, 40, 40), (200, 0, 255), (0, 200, 255)]


def building_centres() -> np.ndarray:
    boxes = json.loads((DATA / "post_mosaic_building_boxes.json").read_text())["boxes"]
    return np.array([((b["bbox_xyxy"][0] + b["bbox_xyxy"][2]) / 2, (b["bbox_xyxy"][1] + b["bbox_xyxy"][3]) / 2) for b in boxes])


def density(centres: np.ndarray, box) -> float:
    """Buildings per megapixel inside ``box``."""
    x0, y0, x1, y1 = box
    inside = ((centres[:, 0] >= x0) & (centres[:, 0] < x1) & (centres[:, 1] >= y0) & (centres[:, 1] < y1)).sum()
    return 1e6 * inside / ((x1 - x0) * (y1 - y0))


def leaves(nodes: list[ViewNode]) -> list[ViewNode]:
    parents = {n.parent for n in nodes}
    return [n for n in nodes if n.index not in parents]


def plan(paths: list[Path], params: DRISParams) -> tuple[list[ViewNode], int, tuple[int, int]]:
    r = open_raster(paths)
    nodes = plan_views(r.width, r.height, SIDE, r.thumbnail(thumbnail_side(r.width, r.height, SIDE, params)), params)
    return nodes, len(plan_uniform(r.width, r.height, SIDE)), (r.width, r.height)


def draw(nodes: list[ViewNode], centres: np.ndarray, path: Path) -> None:
    scene = Image.open(DATA / "post_mosaic_3072x2048.jpg").convert("RGB")
    s = 0.5
    img = scene.resize((int(scene.width * s), int(scene.height * s))).convert("RGBA")
    overlay = Image.new("RGBA", img.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(overlay)
    for n in leaves(nodes):
        x0, y0, x1, y1 = (int(v * s) for v in n.box)
        d.rectangle((x0, y0, x1, y1), fill=(255, 60, 60, 40) if n.depth == max(m.depth for m in nodes) else (0, 0, 0, 0))
    for n in sorted(nodes, key=lambda n: n.depth):
        x0, y0, x1, y1 = (int(v * s) for v in n.box)
        d.rectangle((x0, y0, x1 - 1, y1 - 1), outline=COLOURS[min(n.depth, len(COLOURS) - 1)] + (255,), width=2)
    for cx, cy in centres * s:
        d.ellipse((cx - 1.5, cy - 1.5, cx + 1.5, cy + 1.5), fill=(0, 255, 255, 255))
    img = Image.alpha_composite(img, overlay).convert("RGB")
    img.save(path, optimize=True)


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    centres = building_centres()
    params = DRISParams()
    mosaic, uniform, (w, h) = plan([DATA / "post_mosaic_3072x2048.jpg"], params)
    tiles, uniform_t, size_t = plan(sorted((DATA / "tiles" / "post").glob("*.tif")), params)
    deepest = max(n.depth for n in mosaic)
    leaf_d = float(np.mean([density(centres, n.box) for n in mosaic if n.depth == deepest]))
    scene_d = density(centres, (0, 0, w, h))
    sweep = []
    for t in (0.02, 0.03, 0.04, 0.05, 0.06):
        for b in (0.25, 0.5, 1.0, 2.0):
            n, _, _ = plan([DATA / "post_mosaic_3072x2048.jpg"], DRISParams(complexity_threshold=t, budget_per_tile=b))
            sweep.append({"threshold": t, "budget_per_tile": b, "encoder_calls": len(n), "ratio_to_uniform": round(len(n) / uniform, 3)})
    # Other real scenes, with a budget that does not bind (2x uniform): what content alone prunes.
    others = {}
    for img in sorted((DATA.parent / "dota_samples" / "images").iterdir()):
        n, u, size = plan([img], DRISParams(budget_per_tile=2.0))
        nb, _, _ = plan([img], params)
        others[img.name] = {"size": list(size), "uniform_calls": u, "dris_calls_unbudgeted": len(n),
                            "dris_calls_default_budget": len(nb)}
    n, u, _ = plan([DATA / "post_mosaic_3072x2048.jpg"], DRISParams(budget_per_tile=2.0))
    others["joplin post_mosaic_3072x2048.jpg"] = {"size": [w, h], "uniform_calls": u, "dris_calls_unbudgeted": len(n),
                                                  "dris_calls_default_budget": len(mosaic)}
    result = {
        "encoder_input_px": SIDE,
        "dris_params": params.model_dump(),
        "mosaic_jpeg": {"size": [w, h], "dris_calls": len(mosaic), "uniform_calls": uniform,
                        "ratio": round(len(mosaic) / uniform, 3),
                        "views_per_depth": {str(d): sum(1 for n in mosaic if n.depth == d) for d in range(deepest + 1)}},
        "geotiff_tiles": {"size": list(size_t), "dris_calls": len(tiles), "uniform_calls": uniform_t,
                          "ratio": round(len(tiles) / uniform_t, 3)},
        "buildings_per_megapixel": {"deepest_leaves": round(leaf_d, 1), "whole_scene": round(scene_d, 1),
                                    "ratio": round(leaf_d / scene_d, 2)},
        "sweep": sweep,
        "content_only": others,
    }
    (OUT / "dris_joplin.json").write_text(json.dumps(result, indent=2) + "\n")
    draw(mosaic, centres, OUT / "dris_joplin_tree.png")
    print(f"Joplin post mosaic {w}x{h}, encoder input {SIDE} px")
    print(f"  uniform native-resolution tiling: {uniform} encoder calls (global + {uniform - 1} tiles)")
    print(f"  DRIS:                             {len(mosaic)} encoder calls ({len(mosaic) / uniform:.2f}x)")
    print(f"  GeoTIFF tiles as one scene:       DRIS {len(tiles)} vs uniform {uniform_t}")
    print(f"  buildings/Mpx in deepest leaves {leaf_d:.1f} vs whole scene {scene_d:.1f} ({leaf_d / scene_d:.2f}x)")
    for name, o in others.items():
        print(f"  {name} {o['size']}: uniform {o['uniform_calls']}, DRIS unbudgeted {o['dris_calls_unbudgeted']}, "
              f"DRIS default budget {o['dris_calls_default_budget']}")
    print(f"  wrote {OUT / 'dris_joplin.json'} and {OUT / 'dris_joplin_tree.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
