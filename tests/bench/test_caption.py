"""geoseek bench caption: consensus re-ranking, scoring, and the benchmark through a real train-split index."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from geoseek.bench.caption import (
    METRICS,
    caption_benchmark,
    consensus_choice,
    score_captions,
    tokenise,
)
from geoseek.bench.recall import BenchError, split_queries
from geoseek.datasets.sources import DatasetError
from geoseek.indexer import run_index
from geoseek.search.engine import SearchEngine


def _unit(rows: list[list[float]]) -> np.ndarray:
    v = np.array(rows, np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_consensus_choice_picks_the_candidate_the_others_agree_with():
    # Row 0 (the retrieval top-1) is an outlier; rows 1-3 cluster around row 2.
    vecs = _unit([[1, 0, 0], [0.1, 1, 0.3], [0, 1, 0], [0, 1, -0.3]])
    assert consensus_choice(vecs) == 2
    assert consensus_choice(vecs.astype(np.float16)) == 2  # as stored in the index
    assert consensus_choice(vecs[:1]) == 0
    dup = _unit([[1, 0, 0], [0, 1, 0], [0, 1, 0], [1, 0, 0]])  # two pairs of repeats: a tie, the better ranked wins
    assert consensus_choice(dup) == 0


def test_tokenise_lowercases_and_drops_punctuation():
    assert tokenise("Many Buildings, and a PLAYGROUND.") == "many buildings and a playground"
    assert tokenise(" ( A bridge ) -- over `` the river '' ; green-trees!  ") == "a bridge over the river green-trees"


def test_score_captions_rewards_matching_captions():
    refs = [["many buildings are near a playground", "a playground is surrounded by buildings"],
            ["a river runs through the green farmland", "green fields are on both sides of a river"],
            ["several planes are parked at the airport", "an airport with many planes"]]
    exact = score_captions(["Many buildings are near a playground.", "A river runs through the green farmland",
                            "several planes are parked at the airport"], refs)
    unrelated = score_captions(["a beach with white waves", "a bare desert with dunes", "a dense forest of tall trees"], refs)
    assert list(exact) == list(METRICS) and all(isinstance(v, float) for v in exact.values())
    assert exact["BLEU-4"] == pytest.approx(1.0, abs=1e-3)  # tokenisation made the first caption equal its reference
    assert exact["CIDEr"] > 1.0 > unrelated["CIDEr"] and unrelated["BLEU-4"] < 0.01
    with pytest.raises(ValueError, match="one caption"):
        score_captions(["a caption"], [[]])


@pytest.fixture()
def train_index(split_dataset, tiny_rn_config, tmp_path):
    index = tmp_path / "index"
    run_index([split_dataset], index, model=str(tiny_rn_config), device="cpu", progress=False, splits=["train"])
    return index


def test_caption_benchmark_through_the_engine(split_dataset, train_index):
    engine = SearchEngine(train_index, device="cpu")
    res = caption_benchmark(train_index, split_dataset, "test", levels=["global"], engine=engine, progress=False,
                            examples=16)
    _, train_entries = split_queries(split_dataset, "train")
    train_captions = {t for t, _ in train_entries}
    assert res["n_images"] == 16 and len(res["examples"]) == 16 and res["caption_pool"] == len(train_entries)
    assert res["levels"] == ["global"] and res["weights"] == {"global": 1.0} and res["candidates"] == 15
    assert {"split", "dataset", "index", "index_version", "model", "seconds"} <= set(res) and res["split"] == "test"
    for kind in ("consensus", "top1"):
        assert list(res[kind]) == list(METRICS)
        assert all(0.0 <= res[kind][m] <= 1.0 for m in METRICS[:4]) and res[kind]["CIDEr"] >= 0.0
        assert res[kind]["BLEU-1"] > 0.0  # retrieved captions share words with any RSICD caption
    assert all(ex["caption"] in train_captions and ex["top1"] in train_captions for ex in res["examples"])
    assert all(not set(ex["references"]) & {"", None} and ex["references"] for ex in res["examples"])
    # One image recomputed independently: its top-1 and its consensus among the 15 best captions.
    ex = res["examples"][0]
    data = next(split_dataset.parent.rglob(ex["image"])).read_bytes()
    assert engine.search_image(data, target="texts", k=1, levels=["global"]).results[0].text == ex["top1"]
    hits = engine.search_image(data, target="texts", k=15, levels=["global"], distinct=False).results
    text = engine.state().text
    vecs = text.vectors[[text.text_ids.index(h.text_id) for h in hits]]
    assert ex["caption"] == hits[consensus_choice(vecs)].text
    assert any(e["caption"] != e["top1"] for e in res["examples"])  # re-ranking changes some choices
    # One candidate: consensus is top-1. All levels (the default): fused weights reported as used.
    single = caption_benchmark(train_index, split_dataset, "test", levels=["global"], candidates=1, engine=engine,
                               progress=False)
    assert single["consensus"] == single["top1"] == res["top1"]
    fused = caption_benchmark(train_index, split_dataset, "test", engine=engine, progress=False, examples=2)
    assert fused["levels"] == ["global", "region", "object"] and fused["weights"]["object"] > 0
    assert len(fused["examples"]) == 2 and fused["n_images"] == 16
    with pytest.raises(BenchError, match="candidates"):
        caption_benchmark(train_index, split_dataset, "test", candidates=0, engine=engine, progress=False)
    with pytest.raises(DatasetError, match=r"no images in split\(s\) nope \(splits present: test 16, train 32, val 16\)"):
        caption_benchmark(train_index, split_dataset, "nope", engine=engine, progress=False)


def test_an_index_holding_the_scored_split_is_refused(split_dataset, tiny_rn_config, tmp_path):
    index = tmp_path / "leaky"
    run_index([split_dataset], index, model=str(tiny_rn_config), device="cpu", progress=False, splits=["train", "test"])
    with pytest.raises(BenchError, match="holds 16 image\\(s\\) of split 'test'"):
        caption_benchmark(index, split_dataset, "test", progress=False)


def test_an_index_without_captions_is_refused(split_dataset, tiny_rn_config, tmp_path):
    folder = tmp_path / "uncaptioned"
    folder.mkdir()
    for chip in sorted(split_dataset.parent.rglob("*.jpg"))[:2]:
        (folder / chip.name).write_bytes(chip.read_bytes())
    index = tmp_path / "no-captions"
    run_index([folder], index, model=str(tiny_rn_config), device="cpu", progress=False)
    with pytest.raises(BenchError, match="holds no captions"):
        caption_benchmark(index, split_dataset, "test", progress=False)


@pytest.mark.slow
def test_caption_cli_json_and_readable_errors(split_dataset, train_index, tmp_path):
    cmd = [sys.executable, "-m", "geoseek.cli", "bench", "caption", "--index", str(train_index),
           "--dataset", str(split_dataset), "--split", "test", "--levels", "global", "--candidates", "5", "-q"]
    run = subprocess.run(cmd + ["--out", str(tmp_path / "cap.json")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    res = json.loads(run.stdout)
    assert res == json.loads((tmp_path / "cap.json").read_text())
    assert res["n_images"] == 16 and res["levels"] == ["global"] and 0 <= res["consensus"]["BLEU-4"] <= 1
    bad = subprocess.run(cmd[:-5] + ["--split", "val", "--weights", "1,2"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--weights" in bad.stderr and "Traceback" not in bad.stderr
