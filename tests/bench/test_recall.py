"""geoseek bench recall through a real index: the engine's numbers equal a direct computation."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from geoseek.bench.recall import BenchError, recall_benchmark, split_queries
from geoseek.cli import app
from geoseek.datasets.sources import DatasetError, read_dataset
from geoseek.indexer import run_index
from geoseek.metrics import dense_recall, recall_at_k
from geoseek.models import load_encoder
from geoseek.schemas import MatchRule
from geoseek.search.engine import SearchEngine
from tests.conftest import make_split_archive, repeat_captions


def test_recall_at_k_definition():
    rel = np.array([[False, True] + [False] * 8, [False] * 10, [True] + [False] * 9])
    assert recall_at_k(rel) == {"R@1": pytest.approx(100 / 3, abs=0.01), "R@5": pytest.approx(200 / 3, abs=0.01),
                                "R@10": pytest.approx(200 / 3, abs=0.01)}
    with pytest.raises(ValueError, match="R@10"):
        recall_at_k(rel[:, :5])


def test_dense_recall_on_a_gallery_smaller_than_k():
    res = dense_recall(np.eye(3, dtype=np.float32), np.eye(3, dtype=np.float32), [[0], [1], [2]])
    assert res["t2i"] == {"R@1": 100.0, "R@5": 100.0, "R@10": 100.0} and res["mR"] == 100.0


def test_dense_recall_rules_apart_on_identical_captions():
    img = np.eye(3, dtype=np.float32)
    txt = np.array([[0, 1, 0], [0.8, 0, 0.6], [0, 0, 1]], np.float32)  # caption 0 looks like image 1
    ids = [[0], [0, 1], [2]]  # image 0 and image 1 both carry caption 0
    std = dense_recall(img, txt, ids, ks=(1,))
    # entries (c0, img0) -> top image 1: miss; (c0, img1): hit; (c1, img1) -> image 0: miss; (c2, img2): hit
    assert std["t2i"]["R@1"] == 50.0 and std["match"]["rule"] == "image"
    lenient = dense_recall(img, txt, ids, ks=(1,), match=MatchRule.CAPTION)
    assert lenient["t2i"]["R@1"] == 75.0 and lenient["match"]["rule"] == "caption"  # image 1 carries c0 too
    assert std["i2t"] == lenient["i2t"] and std["i2t"]["R@1"] < 100.0  # image 0's best entry is image 1's
    assert std["n_queries"] == {"t2i": 4, "i2t": 3}


def test_dense_recall_breaks_ties_in_entry_order_as_the_engine_does():
    # Both images carry one identical string: their entries tie for every image, and the first listed wins.
    res = dense_recall(np.eye(2, dtype=np.float32), np.array([[1.0, 0.0]], np.float32), [[0], [0]], ks=(1,))
    assert res["i2t"]["R@1"] == 50.0 and res["t2i"]["R@1"] == 50.0


def _brute_force_recall(index, dataset, split: str, match: MatchRule) -> dict:
    """R@1/5/10 both ways from the index's stored global and caption vectors, by numpy alone."""
    engine = SearchEngine(index, device="cpu")
    state = engine.state()
    glob = state.levels["global"]
    gallery = np.array(state.images.ids)[glob.image_idx]  # one global row per image
    g = glob.vectors.astype(np.float32)
    _, entries = split_queries(dataset, split)
    texts = sorted({t for t, _ in entries})
    tv = dict(zip(texts, engine.encoder.encode_texts(texts)))
    t2i = {k: 0 for k in (1, 5, 10)}
    for text, own in entries:
        ranked = gallery[np.argsort(-(g @ tv[text]), kind="stable")]
        carriers = {iid for t, iid in entries if t == text} if match is MatchRule.CAPTION else {own}
        for k in t2i:
            t2i[k] += bool(carriers & set(ranked[:k]))
    caps, owners = state.text.vectors.astype(np.float32), np.array(state.text.image_ids)
    captioned = list(dict.fromkeys(iid for _, iid in entries))
    i2t = {k: 0 for k in (1, 5, 10)}
    for iid in captioned:
        ranked = owners[np.argsort(-(caps @ g[list(gallery).index(iid)]), kind="stable")]
        for k in i2t:
            i2t[k] += iid in ranked[:k]
    return {"t2i": {f"R@{k}": 100 * v / len(entries) for k, v in t2i.items()},
            "i2t": {f"R@{k}": 100 * v / len(captioned) for k, v in i2t.items()}}


def _close(res: dict, ref: dict) -> None:
    for d in ("t2i", "i2t"):
        for k in ("R@1", "R@5", "R@10"):
            assert abs(res[d][k] - ref[d][k]) <= 100 / res["n_queries"][d] + 1e-6, (d, k)  # one near-tie may flip


def test_standard_and_lenient_rules_equal_brute_force_and_differ(tmp_path, tiny_rn_config):
    dataset = repeat_captions(make_split_archive(tmp_path / "archive"), "test", n=8)  # 8 of 16 images share a string
    index = tmp_path / "index"
    run_index([dataset], index, model=str(tiny_rn_config), device="cpu", progress=False, splits=["test"])
    std = recall_benchmark(index, dataset, "test", levels=["global"], progress=False)
    lenient = recall_benchmark(index, dataset, "test", levels=["global"], progress=False, match=MatchRule.CAPTION)
    assert std["match"]["rule"] == "image" and lenient["match"]["rule"] == "caption"
    _close(std, _brute_force_recall(index, dataset, "test", MatchRule.IMAGE))
    _close(lenient, _brute_force_recall(index, dataset, "test", MatchRule.CAPTION))
    # The 8 entries of a string carried by 8 of 16 images all rank the same list. Lenient: all 8 hit at K once
    # any carrier is in the top K; standard: only the carriers there. A top 5 holds at most 5 of the 8, and a top
    # 10 without a carrier in its first 5 at most 5 too, so at K = 5 or K = 10 the standard rule must score lower.
    k5_10 = lambda r: r["t2i"]["R@5"] + r["t2i"]["R@10"]
    assert k5_10(lenient) > k5_10(std) and std["i2t"] == lenient["i2t"]


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


def test_an_index_whose_captions_differ_from_the_split_is_refused(split_dataset, test_index):
    data = json.loads(split_dataset.read_text())
    entry = next(e for e in data["images"] if e["split"] == "test")
    entry["sentences"][0]["raw"] = "a caption the index never saw"  # same images, another caption file
    split_dataset.write_text(json.dumps(data))
    with pytest.raises(BenchError, match=r"captions differ from split 'test' .*1 caption entries of the split not indexed, "
                                         r"1 indexed ones not in it"):
        recall_benchmark(test_index, split_dataset, "test", progress=False)


def test_a_gallery_of_the_wrong_split_is_refused(split_dataset, test_index):
    with pytest.raises(BenchError, match="not in the index"):
        recall_benchmark(test_index, split_dataset, "val", progress=False)
    run_index([split_dataset], test_index, device="cpu", progress=False, splits=["val"])
    with pytest.raises(BenchError, match="outside split 'test'"):
        recall_benchmark(test_index, split_dataset, "test", progress=False)


@pytest.mark.slow
def test_cli_writes_json(split_dataset, test_index, tmp_path):
    out = tmp_path / "r.json"
    res = subprocess.run([sys.executable, "-m", "geoseek.cli", "bench", "recall", "--index", str(test_index), "--dataset",
                          str(split_dataset), "--levels", "global", "--out", str(out), "-q"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    data = json.loads(out.read_text())
    assert data == json.loads(res.stdout) and data["mR"] == pytest.approx(np.mean(
        [data[d][k] for d in ("t2i", "i2t") for k in ("R@1", "R@5", "R@10")]), abs=0.01)
    assert data["match"]["rule"] == "image"
    # In-process from here: a second interpreter start costs seconds and tests nothing more.
    lenient = CliRunner().invoke(app, ["bench", "recall", "--index", str(test_index), "--dataset", str(split_dataset),
                                       "--levels", "global", "--match", "caption", "--device", "cpu", "-q"])
    assert lenient.exit_code == 0 and "LENIENT" in lenient.stderr and json.loads(lenient.stdout)["match"]["rule"] == "caption"
    bad = CliRunner().invoke(app, ["bench", "recall", "--index", str(test_index), "--dataset", str(split_dataset),
                                   "--split", "nope", "--device", "cpu"])
    assert bad.exit_code == 2 and "no images in split(s) nope (splits present: test 16, train 32, val 16)" in bad.stderr


def test_a_dataset_whose_images_sit_in_an_unconventional_folder(split_dataset, tiny_rn_config, tmp_path):
    """Entries naming only a file, images in a folder no convention finds: --image-dir names it, for index and bench."""
    data = json.loads(split_dataset.read_text())
    pix = tmp_path / "release" / "pix"
    pix.mkdir(parents=True)
    entries = []
    for e in data["images"]:
        if e["split"] == "test":
            (pix / e["filename"]).write_bytes((split_dataset.parent / e["filepath"]).read_bytes())
            entries.append({k: v for k, v in e.items() if k != "filepath"})
    dataset = tmp_path / "release" / "dataset_release.json"
    dataset.write_text(json.dumps({"images": entries}))
    index = tmp_path / "pix-index"
    with pytest.raises(DatasetError, match="16 of 16 listed image"):
        run_index([dataset], index, model=str(tiny_rn_config), device="cpu", progress=False)
    run_index([dataset], index, model=str(tiny_rn_config), device="cpu", progress=False, image_dir=pix)
    res = recall_benchmark(index, dataset, "test", levels=["global"], progress=False, image_dir=pix)
    assert res["gallery_images"] == 16 and res["n_queries"]["t2i"] == sum(len(e["sentences"]) for e in entries)
    with pytest.raises(DatasetError, match="--image-dir"):
        recall_benchmark(index, dataset, "test", levels=["global"], progress=False)
