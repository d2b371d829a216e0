"""benchmarks/level_variants.py: other scorings of the region and object levels, through a real index, and their
section of benchmarks/README.md."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from geoseek.bench.fusion import _float32_levels, _text_to_image_scores
from geoseek.bench.recall import recall_benchmark, split_queries
from geoseek.index.version import LevelData
from geoseek.indexer import run_index
from geoseek.models.training import TrainConfig, Trainer
from geoseek.schemas import FusionWeights
from geoseek.search.engine import SearchEngine
from geoseek.search.query import text_views
from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import level_variants  # noqa: E402
import summary_eval  # noqa: E402


def _level(rows_per_image: list[int]) -> LevelData:
    n = sum(rows_per_image)
    ends = np.cumsum(rows_per_image)
    image = np.repeat(np.arange(len(rows_per_image)), rows_per_image).astype(np.int32)
    return LevelData(index=None, vectors=np.zeros((n, 4), np.float16), image_idx=image, bbox=np.zeros((n, 4), np.int32),
                     node_box=np.zeros((n, 4), np.int32), depth=np.zeros(n, np.int16), bounds=np.full((n, 4), np.nan),
                     starts=ends - np.array(rows_per_image), ends=ends)


def test_cells_are_numbered_by_view_image_after_image():
    # image 0: one view of 4 cells; image 1: three views of 4 cells each
    view, cells = level_variants.view_of_cells(_level([4, 12]), np.array([1, 3]))
    assert cells == 4 and view.tolist() == [0] * 4 + [1] * 4 + [2] * 4 + [3] * 4
    with pytest.raises(SystemExit, match="same grid of cells"):
        level_variants.view_of_cells(_level([4, 10]), np.array([1, 3]))  # 10 cells do not split into 3 views
    with pytest.raises(SystemExit, match="same grid of cells"):
        level_variants.view_of_cells(_level([4, 12]), np.array([1, 4]))  # 3 cells per view here, 4 there
    shuffled = _level([4, 12])
    shuffled.image_idx = shuffled.image_idx[::-1].copy()  # rows not in image order: view ids would be wrong
    with pytest.raises(SystemExit, match="image order"):
        level_variants.view_of_cells(shuffled, np.array([1, 3]))


@pytest.fixture()
def val_index(split_dataset, tiny_rn_config, tmp_path):
    cfg = TrainConfig(dataset=str(split_dataset), model=str(tiny_rn_config), out=str(tmp_path / "run"), epochs=1,
                      batch_size=8, device="cpu")
    checkpoint = Trainer(cfg, progress=False).run().checkpoint
    index = tmp_path / "val-index"
    run_index([split_dataset], index, model=str(checkpoint), device="cpu", progress=False, splits=["val"])
    return index


def test_per_view_object_is_the_engine_score_on_one_view_and_filip_within_views_otherwise(split_dataset, val_index):
    engine = SearchEngine(val_index)
    state = _float32_levels(engine.state())
    _, entries = split_queries(split_dataset, "val")
    texts = sorted({t for t, _ in entries})
    extra = level_variants.extra_scores(engine, state, texts)
    views = extra["views"]
    one = views == 1
    assert one.any() and (~one).any()  # the chips are larger than the tiny tower's input: most get region views
    engine_scores = _text_to_image_scores(engine, state, texts, level_variants.LEVELS)
    per_view = extra["object_per_view"]
    # One view: FILIP within the view is FILIP over the image's cells, as search scores it ...
    np.testing.assert_allclose(per_view[:, one], engine_scores[:, one, 2], atol=1e-5)
    # ... several: each token's best cell in one view is at most its best over all views.
    assert (per_view[:, ~one] <= engine_scores[:, ~one, 2] + 1e-5).all()
    # Brute force for one multi-view image: the best view's mean over tokens of each token's best cell.
    image = int(np.flatnonzero(~one)[0])
    obj = state.levels["object"]
    cells = obj.vectors[obj.starts[image]:obj.ends[image]].reshape(int(views[image]), -1, obj.vectors.shape[1])
    q = text_views(engine.encode_text_queries([texts[0]], level_variants.LEVELS)[0], level_variants.LEVELS,
                   state.manifest).by_level["object"]  # the caption's content tokens
    brute = max(float(np.mean([max(float(c @ t) for c in view) for t in q])) for view in cells)
    assert per_view[0, image] == pytest.approx(brute, abs=1e-5)
    # A window mean of unit cells against a unit sentence is a cosine.
    assert np.isfinite(extra["region_cell_windows"]).all() and np.abs(extra["region_cell_windows"]).max() <= 1 + 1e-5

    result = level_variants.measure(val_index, split_dataset, "val")
    v = result["variants"]
    assert result["queries"] == len(entries)
    assert result["views_per_image"] == {str(k): int((views == k).sum()) for k in sorted(set(views.tolist()))}
    direct = recall_benchmark(val_index, split_dataset, "val", weights=FusionWeights.parse("1,0,0"), progress=False)
    assert v["as_indexed"]["global_only"] == pytest.approx(np.mean(list(direct["t2i"].values())), abs=0.01)
    for variant in v.values():  # the global level is the same in every variant; the grid holds global-only
        assert variant["global_only"] == v["as_indexed"]["global_only"] and variant["best"] >= variant["global_only"]
    # Recall by the answer's view count splits the queries: their count-weighted mean is the overall figure.
    counts = result["queries_by_views_of_answer"]
    assert sum(counts.values()) == len(entries) and set(counts) == set(result["views_per_image"])
    for variant in v.values():
        for at in ("shipped", "best"):
            split = variant["by_views_of_answer"][at]
            assert set(split) == set(counts)
            assert sum(split[k] * n for k, n in counts.items()) / len(entries) == pytest.approx(variant[at], abs=0.02)


def test_the_script_refuses_a_test_split(tmp_path):
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "level_variants.py"), "--index", str(tmp_path),
                          "--dataset", str(tmp_path / "d.json"), "--split", "test", "--label", "x", "--out",
                          str(tmp_path / "o.json")], capture_output=True, text=True)
    assert run.returncode == 2 and "never on one we report" in run.stderr


def test_the_section_shows_each_val_set_at_shipped_and_best_weights():
    variant = {"global_only": 7.67, "shipped": 14.55, "best": 18.93, "best_weights": [0.1, 0.3, 0.6]}
    lv = {"mixed": {"images": 147, "queries": 5469, "views_per_image": {"1": 38, "17": 36},
                    "variants": {"as_indexed": variant, "view_penalty_0.02": {**variant, "shipped": 11.27}}}}
    out: list[str] = []
    summary_eval.level_variants_section(lv, out)
    text = "\n".join(out)
    assert "147 images, 5,469 queries; views per image 1, 17; global-only 7.67" in text
    assert "14.55 / 18.93 (0.1/0.3/0.6)" in text and "minus 0.02 x ln(views) | 11.27 / 18.93" in text
    off_grid: list[str] = []  # an index whose weights are not on the grid has no figure at them
    summary_eval.level_variants_section({"mixed": {**lv["mixed"], "variants": {"as_indexed": {**variant, "shipped": None}}}},
                                        off_grid)
    assert "| - / 18.93 (0.1/0.3/0.6) |" in "\n".join(off_grid)
    empty: list[str] = []
    summary_eval.level_variants_section(None, empty)
    assert empty == []
