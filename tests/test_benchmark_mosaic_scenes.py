"""benchmarks/mosaic_scenes.py: large val scenes made of captioned chips, each tile's captions on its scene."""
from __future__ import annotations

import json
import sys

import numpy as np
from PIL import Image

from tests.conftest import ROOT, make_split_archive

sys.path.insert(0, str(ROOT / "benchmarks"))
import mosaic_scenes  # noqa: E402


def test_scenes_are_tiles_of_the_split_with_their_captions(tmp_path):
    dataset = make_split_archive(tmp_path / "archive", n_train=4, n_val=9, n_test=4)
    source = {e["filepath"].split("/")[-1]: e for e in json.loads(dataset.read_text())["images"] if e["split"] == "val"}
    summary = mosaic_scenes.build(dataset, tmp_path / "out", split="val", grid=2, seed=1)
    assert summary["scenes"] == 2 and summary["tiles"] == 8 and summary["left_out"] == 1  # 9 val chips, 4 per scene
    scenes = json.loads((tmp_path / "out" / "dataset.json").read_text())["images"]
    used = [t["file"] for s in scenes for t in s["tiles"]]
    assert len(set(used)) == 8 and set(used) <= set(source)  # val chips only, each once
    for s in scenes:
        im = np.asarray(Image.open(tmp_path / "out" / s["filepath"] / s["filename"]).convert("RGB"), dtype=float)
        px = summary["scene_px"]["2"]
        assert im.shape[:2] == (px, px) and s["split"] == "scenes"
        captions = [c["raw"] for c in s["sentences"]]
        for t in s["tiles"]:
            chip = source[t["file"]]
            assert all(c["raw"].strip() in captions for c in chip["sentences"])
            x0, y0, x1, y1 = t["box"]
            ref = Image.open(dataset.parent / chip["filepath"]).convert("RGB").resize((x1 - x0, y1 - y0))
            assert np.abs(im[y0:y1, x0:x1] - np.asarray(ref, dtype=float)).mean() < 8  # the tile is that chip (JPEG)
    again = mosaic_scenes.build(dataset, tmp_path / "again", split="val", grid=2, seed=1)
    assert again == summary and json.loads((tmp_path / "again" / "dataset.json").read_text())["images"] == scenes


def test_mixed_grids_cycle_scene_sizes_and_keep_every_tile_once(tmp_path):
    dataset = make_split_archive(tmp_path / "archive", n_train=4, n_val=9, n_test=4)
    summary = mosaic_scenes.build(dataset, tmp_path / "out", split="val", grid=(1, 2), seed=0)
    # 1 + 4 + 1 tiles fill three scenes; a fourth (2x2) would need 4 of the 3 left
    assert summary["scenes"] == 3 and summary["tiles"] == 6 and summary["left_out"] == 3
    scenes = json.loads((tmp_path / "out" / "dataset.json").read_text())["images"]
    assert [len(s["tiles"]) for s in scenes] == [1, 4, 1]
    chip = summary["scene_px"]["1"]
    assert summary["scene_px"]["2"] == 2 * chip
    for s in scenes:
        side = chip * int(len(s["tiles"]) ** 0.5)
        assert Image.open(tmp_path / "out" / s["filepath"] / s["filename"]).size == (side, side)
    used = [t["file"] for s in scenes for t in s["tiles"]]
    assert len(set(used)) == 6
