"""benchmarks/text_tower_probe.py: its recall is the tune-fusion ranking (stable, ties by lower id), and its committed
results start from the shipped model's own val figure."""
from __future__ import annotations

import json
import sys

import numpy as np

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import text_tower_probe as probe  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_recall_follows_the_own_image_rule_and_breaks_ties_by_lower_id():
    rng = np.random.default_rng(0)
    images = _unit(rng.normal(size=(12, 8)))
    texts = np.concatenate([images, images[[3]]])  # caption 12 repeats image 3's vector but belongs to image 5
    own = np.concatenate([np.arange(12), [5]])
    r = probe.own_image_recall(texts, images, own)
    # text->image: the 12 exact captions hit at rank 1; the repeat's best image is 3, not its own 5.
    assert r["t2i"]["R@1"] == round(100 * 12 / 13, 2)
    # image->text: image 3's top two captions tie (entries 3 and 12); the lower id, its own, ranks first.
    assert r["i2t"]["R@1"] == 100.0
    flipped = probe.own_image_recall(texts[[*range(12)] + [12]][::-1], images, own[::-1])
    assert flipped["i2t"]["R@1"] < 100.0  # the repeat now has the lower id, and image 3's own caption drops to 2nd


def test_committed_runs_start_from_the_shipped_val_figure():
    runs = json.loads((RESULTS / "text_tower_probe_val.json").read_text())["runs"]
    tuned = json.loads((RESULTS / "tune_fusion_rsicd_official_val.json").read_text())
    shipped = next(g for g in tuned["grid"] if g["weights"] == {"global": 1.0, "region": 0.0, "object": 0.0})
    assert {r["layers_unlocked"] for r in runs} == {2, 6}
    for r in runs:
        assert r["split"] == "val" and r["history"][0]["step"] == 0
        start = r["history"][0]
        assert (start["t2i"], start["i2t"], start["mR"]) == (shipped["t2i"], shipped["i2t"], shipped["mR"])
        assert r["history"][-1]["step"] == r["steps"]
