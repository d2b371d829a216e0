"""geoseek bench tune-fusion: the grid's numbers are the engine's, and the choice is published."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from geoseek.bench.fusion import _image_to_image_scores, set_checkpoint_fusion, tune_fusion, weight_grid
from geoseek.bench.recall import recall_benchmark
from geoseek.bench.similar import similar_benchmark, split_labels
from geoseek.index.layout import IndexDir
from geoseek.indexer import run_index
from geoseek.models import load_encoder
from geoseek.models.training import TrainConfig, Trainer
from geoseek.schemas import FusionWeights, LevelWeights
from geoseek.search.engine import SearchEngine
from tests.conftest import repeat_captions


def test_weight_grid_covers_the_simplex():
    grid = weight_grid(0.25)
    assert len(grid) == 10 and (1.0, 0.0, 0.0) in grid and (0.25, 0.0, 0.75) in grid
    assert all(abs(sum(w) - 1) < 1e-9 and w[0] > 0 for w in grid)


@pytest.fixture()
def trained(split_dataset, tiny_rn_config, tmp_path):
    cfg = TrainConfig(dataset=str(split_dataset), model=str(tiny_rn_config), out=str(tmp_path / "run"), epochs=1,
                      batch_size=8, device="cpu")
    return Trainer(cfg, progress=False).run().checkpoint


def test_tuned_weights_are_published_and_reproduced_by_the_engine(split_dataset, trained, tmp_path):
    repeat_captions(split_dataset, "val", n=8)  # a val split that repeats a caption: the rules disagree on it
    index = tmp_path / "val-index"
    run_index([split_dataset], index, model=str(trained), device="cpu", progress=False, splits=["val"])
    before = IndexDir(index).current()
    res = tune_fusion(index, split_dataset, "val", step=0.25)
    chosen = res["chosen"]
    assert res["match"]["rule"] == "image" and chosen["image_to_image_tuned"]  # the chips carry class labels
    assert chosen["mR"] >= max(res["one_triple"]["mR"], res["global_only"]["mR"]) and len(res["grid"]) == 10
    # Each direction's weights are the grid's best for that direction's own objective.
    mean = lambda r: sum(r.values()) / len(r)  # noqa: E731
    assert mean(chosen["t2i"]) == max(mean(r["t2i"]) for r in res["grid"])
    assert mean(chosen["i2t"]) == max(mean(r["i2t"]) for r in res["grid"])
    assert chosen["i2i_mAP@100"] == max(r["i2i_mAP@100"] for r in res["grid"])
    idx = IndexDir(index)
    assert idx.current() != before and res["written_version"] == idx.current()
    fusion = idx.manifest().fusion
    assert fusion.as_dict() == chosen["weights"]
    # The engine, with the manifest's new default weights, gives the grid's numbers in every direction.
    engine_res = recall_benchmark(index, split_dataset, "val", progress=False)  # the standard own-image rule
    assert engine_res["weights"] == pytest.approx(chosen["weights"]["text_to_image"])
    assert engine_res["weights_i2t"] == pytest.approx(chosen["weights"]["image_to_text"])
    for d in ("t2i", "i2t"):
        for k in ("R@1", "R@5", "R@10"):
            assert abs(engine_res[d][k] - chosen[d][k]) <= 100 / engine_res["n_queries"][d] + 1e-6
    similar = similar_benchmark(index, split_dataset, "val", progress=False)
    assert similar["configs"]["fused"]["weights"] == pytest.approx(chosen["weights"]["image_to_image"])
    # This one-epoch tower scores most pairs within 1e-4 of each other, so rankings may differ on near-ties;
    # the scores themselves must be the engine's.
    engine = SearchEngine(index)
    state, levels = engine.state(), list(engine.state().manifest.levels)
    queries = list(split_labels(split_dataset, "val"))[:4]
    grid = _image_to_image_scores(state, queries, levels)
    w = chosen["weights"]["image_to_image"]
    for i, iid in enumerate(queries):
        for hit in engine.search_image(iid, k=5).results:
            j = state.images.index_of[hit.image_id]
            assert hit.score == pytest.approx(sum(w[lv] * grid[i, j, n] for n, lv in enumerate(levels)), abs=1e-5)
    # Adding images keeps the tuned weights.
    run_index([split_dataset], index, device="cpu", progress=False, splits=["test"])
    assert idx.manifest().fusion == fusion


def test_image_to_image_weights_are_kept_when_val_has_no_class_labels(split_dataset, trained, tmp_path):
    data = json.loads(split_dataset.read_text())
    for e in data["images"]:
        e.pop("aid_class", None), e.pop("label", None)
    split_dataset.write_text(json.dumps(data))
    index = tmp_path / "val-index"
    run_index([split_dataset], index, model=str(trained), device="cpu", progress=False, splits=["val"])
    before = IndexDir(index).manifest().fusion.image_to_image
    res = tune_fusion(index, split_dataset, "val", step=0.5)
    assert not res["chosen"]["image_to_image_tuned"] and res["chosen"]["i2i_mAP@100"] is None
    assert res["n_queries"]["i2i"] == 0 and "i2i_mAP@100" not in res["grid"][0]
    assert IndexDir(index).manifest().fusion.image_to_image == before


def test_checkpoint_weights_seed_new_indexes(split_dataset, trained, tmp_path):
    old = tmp_path / "old"
    run_index([split_dataset], old, model=str(trained), device="cpu", progress=False, splits=["val"])
    weights = FusionWeights(text_to_image=LevelWeights.of(0.6, 0.1, 0.3), image_to_text=LevelWeights.of(1, 0, 0),
                            image_to_image=LevelWeights.of(0.5, 0.2, 0.3))
    set_checkpoint_fusion(trained, weights)
    index = tmp_path / "index"
    run_index([split_dataset], index, model=str(trained), device="cpu", progress=False, splits=["test"])
    assert IndexDir(index).manifest().fusion == weights
    engine = SearchEngine(index, encoder=load_encoder(str(trained), device="cpu"))
    image = engine.state().images.ids[0]
    assert engine.search_text("a river", k=3).weights == pytest.approx({"global": 0.6, "region": 0.1, "object": 0.3})
    assert engine.search_image(image, target="texts", k=3).weights == {"global": 1.0, "region": 0.0, "object": 0.0}
    assert engine.search_image(image, k=3).weights == pytest.approx({"global": 0.5, "region": 0.2, "object": 0.3})
    # The model's identity is its config and weights: an index built before the weights were stored still
    # accepts the file, for search and for adding images.
    engine = SearchEngine(old, encoder=load_encoder(str(trained), device="cpu"))
    assert engine.search_text("a river", k=3).results
    run_index([split_dataset], old, model=str(trained), device="cpu", progress=False, splits=["test"])


@pytest.mark.slow
def test_a_non_checkpoint_is_refused_before_anything_is_published(split_dataset, trained, tmp_path):
    index = tmp_path / "val-index"
    run_index([split_dataset], index, model=str(trained), device="cpu", progress=False, splits=["val"])
    bad = tmp_path / "notes.pt"
    bad.write_text("not a checkpoint")
    res = subprocess.run([sys.executable, "-m", "geoseek.cli", "bench", "tune-fusion", "--index", str(index), "--dataset",
                          str(split_dataset), "--step", "0.5", "--to-checkpoint", str(bad)], capture_output=True, text=True)
    assert res.returncode == 2 and "not a readable checkpoint" in res.stderr
    assert IndexDir(index).current() == "v0001"
