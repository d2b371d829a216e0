"""geoseek bench scenes on real NWPU VHR-10 scenes: AP equals a direct computation, box figures and chance behave."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from geoseek.bench.recall import BenchError
from geoseek.bench.scene_boxes import ScoredHit, box_scores, level_figures
from geoseek.bench.scene_data import PHRASES, load_phrases, load_scenes
from geoseek.bench.scenes import (
    CONFIGS,
    chance_ap,
    config_weights,
    hit_boxes,
    mean_ap,
    scenes_benchmark,
)
from geoseek.cli import app
from geoseek.indexer import run_index
from geoseek.schemas import DRISParams, LevelWeights
from geoseek.schemas.search import Box, ImageHit
from geoseek.search.engine import SearchEngine
from tests.conftest import DATA

NWPU = DATA / "nwpu_vhr10"
# Several classes per scene (baseball/tennis/track/basketball) beside one-class scenes; no storage
# tank or bridge, so those classes have no relevant scene and must be left out, not scored 0.
FILES = ["252.jpg", "146.jpg", "036.jpg", "379.jpg", "268.jpg", "154.jpg", "265.jpg", "514.jpg"]


def _subset(root: Path, files: list[str]) -> Path:
    """A COCO json over ``files`` (real images and boxes) with images/ beside it, as a user would have it."""
    data = json.loads((NWPU / "annotations.json").read_text())
    images = [im for im in data["images"] if im["file_name"] in files]
    ids = {im["id"] for im in images}
    (root / "images").mkdir(parents=True)
    for f in files:
        shutil.copy(NWPU / "images" / f, root / "images" / f)
    path = root / "annotations.json"
    path.write_text(json.dumps({**data, "images": images, "annotations": [a for a in data["annotations"]
                                                                          if a["image_id"] in ids]}))
    return path


@pytest.fixture(scope="module")
def coco(tmp_path_factory) -> Path:
    return _subset(tmp_path_factory.mktemp("nwpu"), FILES)


@pytest.fixture(scope="module")
def indexes(coco, tiny_vit_config, tmp_path_factory) -> dict[str, Path]:
    # The tiny ViT: its patch grid yields object views (the tiny RN's is too coarse for any).
    root = tmp_path_factory.mktemp("idx")
    out = {"dris": root / "dris", "uniform": root / "uniform"}
    run_index([coco.parent / "images"], out["dris"], model=str(tiny_vit_config), device="cpu", progress=False)
    run_index([coco.parent / "images"], out["uniform"], model=str(tiny_vit_config), device="cpu", progress=False,
              dris=DRISParams(uniform=True))
    return out


@pytest.fixture(scope="module")
def engine(indexes) -> SearchEngine:
    return SearchEngine(indexes["dris"], device="cpu")


@pytest.fixture(scope="module")
def result(engine, coco) -> dict:
    return scenes_benchmark({"dris": engine}, coco, progress=False, top=5, draws=20)  # top 5: refine stays cheap


def _hand_ap(relevant: list[bool]) -> float:
    hits, total = 0, 0.0
    for i, r in enumerate(relevant, start=1):
        if r:
            hits += 1
            total += hits / i
    return total / hits


def test_scenes_and_phrases_are_read_from_coco(coco, tmp_path):
    scenes = load_scenes(coco)
    assert len(scenes.image_ids) == len(FILES) and scenes.n_boxes > len(FILES)
    assert len(scenes.relevant("baseball_diamond")) == 2 and not scenes.relevant("bridge")
    box = next(iter(scenes.boxes["airplane"].values()))
    assert box.shape[1] == 4 and (box[:, 2:] > box[:, :2]).all()  # x,y,w,h became xyxy
    phrases = load_phrases(scenes.classes)
    assert phrases["ship"] == list(PHRASES["ship"]) and all(len(p) == 3 for p in phrases.values())
    custom = tmp_path / "p.json"
    custom.write_text(json.dumps({"ship": ["a boat"]}))
    assert load_phrases(scenes.classes, custom)["ship"] == ["a boat"]
    assert load_phrases(["wind_turbine"])["wind_turbine"][0] == "a wind turbine"  # other COCO sets: templates
    custom.write_text(json.dumps({"dragon": ["a dragon"]}))
    with pytest.raises(BenchError, match="dragon"):
        load_phrases(scenes.classes, custom)


def test_global_only_ap_equals_a_direct_computation(result, engine):
    state = engine.state()
    g = state.levels["global"]
    run = result["indexes"]["dris"]["configs"]["global"]
    scenes = load_scenes(Path(result["dataset"]["coco"]))
    checked = 0
    for cls, phrases in result["phrases"].items():
        relevant = scenes.relevant(cls)
        for phrase, q in zip(phrases, engine.encoder.encode_texts(phrases)):
            scores = g.vectors.astype(np.float64) @ q.astype(np.float64)  # one global row per image
            order = np.argsort(-scores, kind="stable")
            ranked = [state.images.ids[g.image_idx[r]] in relevant for r in order]
            assert run["AP"][cls]["phrases"][phrase] == pytest.approx(_hand_ap(ranked), abs=1e-6)
            checked += 1
        assert run["AP"][cls]["AP"] == pytest.approx(np.mean(list(run["AP"][cls]["phrases"].values())), abs=1e-6)
    assert checked == 3 * len(result["phrases"]) and "bridge" not in result["phrases"]
    assert run["mAP"] == pytest.approx(np.mean([a["AP"] for a in run["AP"].values()]))


def test_result_has_every_configuration_and_chance(result):
    runs = result["indexes"]["dris"]["configs"]
    assert list(runs) == list(CONFIGS) and runs["fused+refine"]["refine"] and runs["fused"]["weights"]["object"] > 0
    assert result["ranking"] == {"k": len(FILES), "whole_gallery": True, "unreturned": result["ranking"]["unreturned"]}
    for name, run in runs.items():
        assert 0 <= run["mAP"] <= 1 and run["returned_per_query_min"] == len(FILES)
        loc = run["localisation"]
        assert loc["global"]["contains"] == 1.0 and loc["global"]["area_share"] == 1.0  # the trivial baseline
        assert loc["global"]["chance"]["iou_mean"] == pytest.approx(loc["global"]["iou_mean"])  # one place to put it
        assert ("finest" in loc) == (name != "global")
    assert set(runs["fused"]["localisation"]) == {"global", "region", "object", "finest"}
    classes = result["dataset"]["classes"]
    assert classes["ship"]["scenes"] == 1 and classes["ship"]["prevalence"] == pytest.approx(1 / len(FILES))
    assert result["chance_mAP"] == pytest.approx(np.mean([c["chance_AP"] for c in classes.values()]))
    assert json.loads(json.dumps(result)) == result


def test_box_on_a_ground_truth_box_scores_one_and_a_box_elsewhere_zero():
    gt = np.array([[100.0, 100.0, 140.0, 130.0], [300.0, 50.0, 320.0, 60.0]])
    contains, iou = box_scores(np.array([[100, 100, 140, 130], [400, 300, 440, 330], [90, 90, 150, 140]]), gt)
    assert contains.tolist() == [True, False, True] and iou[0] == pytest.approx(1.0) and iou[1] == 0.0
    assert iou[2] == pytest.approx(1200 / 3000)
    # Through a constructed engine hit: the object box lies on the ground truth, the region box elsewhere.
    hit = ImageHit(image_id="x", score=1.0, level_scores={}, path="x.jpg", width=600, height=500, collection="",
                   region_box=Box(x0=400, y0=300, x1=440, y1=330), object_box=Box(x0=100, y0=100, x1=140, y1=130))
    boxes = hit_boxes(hit, {"global": 0.5, "region": 0.3, "object": 0.2})
    assert boxes["finest"] == boxes["object"] == (100, 100, 140, 130) and boxes["global"] == (0, 0, 600, 500)
    figures = {lv: level_figures([ScoredHit(600, 500, gt, boxes)], lv, draws=50) for lv in boxes}
    assert figures["finest"]["contains"] == 1.0 and figures["finest"]["iou_mean"] == pytest.approx(1.0)
    assert figures["finest"]["iou_ge_50"] == 1.0 and figures["finest"]["area_share"] == pytest.approx(1200 / 300000)
    assert figures["region"]["contains"] == 0.0 and figures["region"]["iou_mean"] == 0.0
    # An object level with weight 0 did not contribute: the finest box is the region's.
    assert hit_boxes(hit, {"global": 0.6, "region": 0.4, "object": 0.0})["finest"] == (400, 300, 440, 330)


def test_chance_figures_are_in_range():
    gt = np.array([[100.0, 100.0, 140.0, 130.0]])
    small = level_figures([ScoredHit(1000, 800, gt, {"b": (100, 100, 140, 130)})], "b", draws=2000, seed=1)
    assert small["iou_mean"] == pytest.approx(1.0) and small["chance"]["iou_mean"] < 0.01
    assert small["chance"]["contains"] < 0.01 and small["chance"]["n"] == 2000  # a 40x30 box rarely lands on it
    again = level_figures([ScoredHit(1000, 800, gt, {"b": (100, 100, 140, 130)})], "b", draws=2000, seed=1)
    assert again == small  # seeded
    tall = level_figures([ScoredHit(1000, 800, gt, {"b": (0, 0, 500, 800)})], "b", draws=4000)
    assert tall["chance"]["contains"] == pytest.approx(120 / 500, abs=0.03)  # holds the centre (x=120) iff x0 <= 120
    # Expected AP of a random ranking: the closed form against shuffles scored by the same metric.
    rng = np.random.default_rng(0)
    rows = [rng.permutation(np.arange(20) < 5) for _ in range(3000)]
    assert mean_ap(rows) == pytest.approx(chance_ap(5, 20), abs=0.01)
    assert chance_ap(5, 20) > 5 / 20 and chance_ap(20, 20) == pytest.approx(1.0) and chance_ap(1, 1) == 1.0


def test_two_level_configurations_never_silently_equal_global_only():
    fusion = LevelWeights(**{"global": 0.6, "region": 0.4, "object": 0.0})
    assert config_weights(fusion, ("global", "region")) == (None, None)  # the manifest's, normalised
    assert config_weights(fusion, ("global", "region", "object")) == (None, None)
    weights, why = config_weights(fusion, ("global", "object"))
    assert weights is not None and weights.object > 0 and "weight 0" in why


@pytest.mark.slow
def test_cli_compares_both_indexes(coco, indexes, tmp_path):
    out, phrases = tmp_path / "scenes.json", tmp_path / "phrases.json"
    phrases.write_text(json.dumps({c: [p[0]] for c, p in PHRASES.items()}))  # one phrase per class keeps it quick
    res = subprocess.run([sys.executable, "-m", "geoseek.cli", "bench", "scenes", "--index", str(indexes["dris"]),
                          "--compare-index", str(indexes["uniform"]), "--coco", str(coco), "--phrases", str(phrases),
                          "--top", "3", "--draws", "10", "--weights", "0.5,0.3,0.2", "--device", "cpu", "--out", str(out), "-q"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    printed = json.loads(res.stdout)
    assert printed == json.loads(out.read_text())
    assert list(printed["indexes"]) == ["dris", "uniform"] and printed["indexes"]["uniform"]["dris"]["uniform"]
    for label in ("dris", "uniform"):
        assert list(printed["indexes"][label]["configs"]) == list(CONFIGS)
        assert set(printed["summary"][label]) == set(CONFIGS)
    assert printed["sanity"]["global_only_equal"] is True and printed["sanity"]["same_model"] is True
    assert printed["phrases"]["ship"] == ["a ship"] and printed["top"] == 3
    fused = printed["indexes"]["dris"]["configs"]["fused"]  # --weights reach the three-level configurations only
    assert fused["weights"] == pytest.approx({"global": 0.5, "region": 0.3, "object": 0.2}) and "--weights" in fused["weights_note"]
    assert printed["indexes"]["dris"]["configs"]["global+region"].get("weights_note") != fused["weights_note"]


def test_a_coco_image_missing_from_the_index_is_a_clear_error(coco, indexes, tmp_path):
    extra = _subset(tmp_path / "more", FILES + ["323.jpg"])  # a storage-tank scene the index never saw
    res = CliRunner().invoke(app, ["bench", "scenes", "--index", str(indexes["dris"]), "--coco", str(extra),
                                   "--device", "cpu", "-q"])
    assert res.exit_code == 2
    assert "1 of the 9 COCO image(s) are not in the index (e.g. 323.jpg)" in res.output
    res = CliRunner().invoke(app, ["bench", "scenes", "--index", str(indexes["dris"]), "--coco", str(coco),
                                   "--images", str(tmp_path), "--device", "cpu", "-q"])
    assert res.exit_code == 2 and "pass --images DIR" in res.output
