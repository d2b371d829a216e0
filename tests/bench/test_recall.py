"""geoseek bench recall through a real index: the engine's numbers equal a direct computation."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from geoseek.bench.recall import BenchError, recall_benchmark, split_queries
from geoseek.indexer import run_index
from geoseek.indexer.sources import read_dataset
from geoseek.models import load_encoder
from geoseek.models.training.metrics import dense_recall, recall_at_k
from PIL import Image


def test_recall_at_k_definition():
    rel = np.array([[False, True] + [False] * 8, [False] * 10, [True] + [False] * 9])
    assert recall_at_k(rel) == {"R@1": pytest.approx(100 / 3, abs=0.01), "R@5": pytest.approx(200 / 3, abs=0.01),
                                "R@10": pytest.approx(200 / 3, abs=0.01)}
    with pytest.raises(ValueError, match="R@10"):
        recall_at_k(rel[:, :5])


def test_dense_recall_on_a_gallery_smaller_than_k():
    res = dense_recall(np.eye(3, dtype=np.float32), np.eye(3, dtype=np.float32), [[0], [1], [2]])
    assert res["t2i"] == {"R@1": 100.0, "R@5": 100.0, "R@10": 100.0} and res["mR"] == 100.0


def test_dense_recall_counts_identical_captions_as_hits():
    img = np.eye(3, dtype=np.float32)
    txt = np.array([[0, 1, 0], [0.8, 0, 0.6], [0, 0, 1]], np.float32)  # caption 0 looks like image 1
    ids = [[0], [0, 1], [2]]  # image 0 and image 1 both carry caption 0
    res = dense_recall(img, txt, ids, ks=(1,))
    assert res["t2i"]["R@1"] == 75.0  # caption 0 (twice) -> image 1 carries it too: hits; caption 1 -> image 0: miss
    assert res["i2t"]["R@1"] < 100.0  # image 0's best entry (caption 1) belongs to image 1: a miss
    assert res["n_queries"] == {"t2i": 4, "i2t": 3}


@pytest.fixture()
def test_index(split_dataset, tiny_rn_config, tmp_path):
    index = tmp_path / "index"
    run_index([split_dataset], index, model=str(tiny_rn_config), device="cpu", progress=False, splits=["test"])
    return index


def test_engine_recall_matches_direct_global_scoring(split_dataset, tiny_rn_config, test_index):
    res = recall_benchmark(test_index, split_dataset, "test", levels=["global"], progress=False)
    image_ids, entries = split_queries(split_dataset, "test")
    assert res["n_queries"] == {"t2i": len(entries), "i2t": len(image_ids)} and res["gallery_images"] == 16
    assert set(res) >= {"t2i", "i2t", "mR", "levels", "n_queries"} and res["levels"] == ["global"]
    # The same numbers from the encoder directly (flat index = exact search).
    enc = load_encoder(str(tiny_rn_config), device="cpu")
    items = [it for it in read_dataset(split_dataset)[0] if it.split == "test"]
    texts: dict[str, int] = {}
    ids = [[texts.setdefault(c.strip(), len(texts)) for c in it.captions if c.strip()] for it in items]
    imgs = enc.encode_images([Image.open(it.paths[0]) for it in items]).astype(np.float16).astype(np.float32)  # as stored
    direct = dense_recall(imgs, enc.encode_texts(list(texts)), ids)
    for d in ("t2i", "i2t"):
        for k in ("R@1", "R@5", "R@10"):
            assert abs(res[d][k] - direct[d][k]) <= 100 / res["n_queries"][d] + 1e-6  # at most one near-tie flips
    fused = recall_benchmark(test_index, split_dataset, "test", progress=False)
    assert fused["levels"] == ["global", "region", "object"] and fused["weights"]["object"] > 0


def test_a_gallery_of_the_wrong_split_is_refused(split_dataset, test_index):
    with pytest.raises(BenchError, match="not in the index"):
        recall_benchmark(test_index, split_dataset, "val", progress=False)
    run_index([split_dataset], test_index, device="cpu", progress=False, splits=["val"])
    with pytest.raises(BenchError, match="outside split 'test'"):
        recall_benchmark(test_index, split_dataset, "test", progress=False)


def test_cli_writes_json(split_dataset, test_index, tmp_path):
    out = tmp_path / "r.json"
    res = subprocess.run([sys.executable, "-m", "geoseek.cli", "bench", "recall", "--index", str(test_index), "--dataset",
                          str(split_dataset), "--levels", "global", "--out", str(out), "-q"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    data = json.loads(out.read_text())
    assert data == json.loads(res.stdout) and data["mR"] == pytest.approx(np.mean(
        [data[d][k] for d in ("t2i", "i2t") for k in ("R@1", "R@5", "R@10")]), abs=0.01)
    bad = subprocess.run([sys.executable, "-m", "geoseek.cli", "bench", "recall", "--index", str(test_index), "--dataset",
                          str(split_dataset), "--split", "nope"], capture_output=True, text=True)
    assert bad.returncode == 2 and "no images in split 'nope'" in bad.stderr
