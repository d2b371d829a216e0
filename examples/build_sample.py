"""Build the demo sample in examples/ from ../shared/data (run once; its output is committed).

240 RSICD/AID chips, 8 per AID scene class, from the test split (the shipped model never saw
them in training), with their RSICD captions in a Karpathy-style dataset.json; and one real
georeferenced GeoTIFF of the Joplin tornado scene (xBD/xView2): the top-left 768x768
pixels of one 1024x1024 tile, cut with rasterio so its georeference stays exact.

    python examples/build_sample.py
"""
from __future__ import annotations

import json
import shutil
from collections import defaultdict
from pathlib import Path

import rasterio
from rasterio.windows import Window

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
PER_CLASS = 8
WINDOW = 768  # px of the 1024 px tile kept (top-left), georeference preserved
TILE = "tile_32524-5137.tif"


def main() -> None:
    src = json.loads((DATA / "rsicd_aid150" / "dataset_rsicd_aid150.json").read_text())
    by_class: dict[str, list[dict]] = defaultdict(list)
    for e in src["images"]:
        if e["split"] == "test" and len(by_class[e["aid_class"]]) < PER_CLASS:
            by_class[e["aid_class"]].append(e)
    chosen = [e for cls in sorted(by_class) for e in by_class[cls]]
    out = HERE / "rsicd_aid"
    shutil.rmtree(out, ignore_errors=True)
    for e in chosen:
        dst = out / e["filepath"]
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(DATA / "rsicd_aid150" / e["filepath"], dst)
    dataset = {"dataset": "GeoSeek demo sample: RSICD captions on AID images (150x150 copy), test split", "images": chosen}
    (out / "dataset.json").write_text(json.dumps(dataset) + "\n")
    scene = HERE / "joplin"
    shutil.rmtree(scene, ignore_errors=True)
    scene.mkdir()
    with rasterio.open(DATA / "joplin_xview2" / "tiles" / "post" / TILE) as ds:
        win = Window(0, 0, WINDOW, WINDOW)
        profile = ds.profile | {"width": WINDOW, "height": WINDOW, "transform": ds.window_transform(win),
                                "compress": "deflate", "tiled": True, "blockxsize": 256, "blockysize": 256}
        with rasterio.open(scene / TILE, "w", **profile) as out_ds:
            out_ds.write(ds.read(window=win))
    print(f"{len(chosen)} chips in {len(by_class)} classes; {TILE}")


if __name__ == "__main__":
    main()
