"""geoseek bench similar through a real index: the engine's class-retrieval numbers equal a brute-force computation."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from geoseek.bench.recall import BenchError
from geoseek.bench.similar import retrieval_scores, similar_benchmark, split_labels
from geoseek.cli import app
from geoseek.indexer import run_index
from geoseek.search.engine import SearchEngine
from tests.conftest import make_split_archive

K = 100


@pytest.fixture(scope="module")
def archive(tmp_path_factory, tiny_rn_config):
    """(dataset.json of 32/16/16 real labelled chips, index of its test split) shared by the module's tests."""
    root = tmp_path_factory.mktemp("similar")
    dataset = make_split_archive(root / "archive")
    index = root / "index"
    run_index([dataset], index, model=str(tiny_rn_config), device="cpu", progress=False, splits=["test"])
    return dataset, index


def _ap(rel: np.ndarray, k: int) -> float:
    """Mean precision at the hit ranks within the top k (torchmetrics' normalisation); 0 without hits."""
    hits = np.flatnonzero(rel[:k])
    return float(np.mean((np.arange(len(hits)) + 1) / (hits + 1))) if len(hits) else 0.0


def _brute_force(engine: SearchEngine, labels: dict[str, str], k: int = K) -> dict[str, float]:
    """Rank the stored global vectors by cosine for every answerable query (itself excluded) and score them."""
    state = engine.state()
    g = state.levels["global"]
    vecs = np.zeros((len(state.images.ids), g.vectors.shape[1]), np.float32)
    vecs[g.image_idx] = g.vectors.astype(np.float32)  # one global view per image
    ids = [state.images.index_of[i] for i in labels]
    names = np.array([labels[state.images.ids[j]] for j in range(len(vecs))])
    aps, strict, p10, p100 = [], [], [], []
    for q in ids:
        if (names == names[q]).sum() < 2:
            continue  # nothing to find: not scored
        sims = vecs @ vecs[q]
        sims[q] = -np.inf
        order = np.argsort(-sims, kind="stable")[: len(vecs) - 1]
        rel = np.pad(names[order] == names[q], (0, K))  # ranks past the gallery are misses
        aps.append(_ap(rel, k))
        hits = np.flatnonzero(rel[:k])  # the usual mAP@k: the precision sum over min(R, k)
        strict.append(float(np.sum((np.arange(len(hits)) + 1) / (hits + 1))) / min(int((names == names[q]).sum()) - 1, k))
        p10.append(rel[:10].sum() / 10)
        p100.append(rel[:100].sum() / 100)
    return {f"mAP@{k}": 100 * np.mean(aps), f"mAP@{k}_strict": 100 * np.mean(strict), "P@10": 100 * np.mean(p10),
            "P@100": 100 * np.mean(p100)}


def test_scores_follow_the_stated_definitions():
    rel = np.zeros((3, K), bool)
    rel[0, [0, 2]] = True  # AP (1/1 + 2/3) / 2
    rel[1, 50] = True  # AP 1/51; nothing in the top 10
    # rel[2]: no hit in the top K -> 0
    res = retrieval_scores(rel)
    assert res[f"mAP@{K}"] == pytest.approx(100 * (5 / 6 + 1 / 51 + 0) / 3, abs=0.01)
    assert res["P@10"] == pytest.approx(100 * (2 / 10) / 3, abs=0.01)
    assert res["P@100"] == pytest.approx(100 * (3 / 100) / 3, abs=0.01)
    with pytest.raises(ValueError, match="need 100"):
        retrieval_scores(rel[:, :50])
    # The strict variant divides by min(R, K): query 0 has 4 relevant images (2 found), query 1 has 200 (K caps it).
    strict = retrieval_scores(rel, n_relevant=np.array([4, 200, 3]))[f"mAP@{K}_strict"]
    assert strict == pytest.approx(100 * ((1 + 2 / 3) / 4 + (1 / 51) / K + 0) / 3, abs=0.01)


def test_engine_matches_brute_force_on_global_vectors(archive):
    dataset, index = archive
    engine = SearchEngine(index, device="cpu")
    res = similar_benchmark(index, dataset, "test", k=K, engine=engine, progress=False)
    labels = split_labels(dataset, "test")
    direct = _brute_force(engine, labels)
    short = similar_benchmark(index, dataset, "test", k=3, engine=engine, progress=False)  # K below the class sizes
    assert short["overall"]["global"]["mAP@3"] == pytest.approx(_brute_force(engine, labels, 3)["mAP@3"], abs=0.01)
    assert res["gallery_images"] == 16 and res["n_queries"] == 16 - sum(res["unscored_classes"].values())
    assert res["unscored_classes"] and all(n == 1 for n in res["unscored_classes"].values())
    for name, value in direct.items():
        assert res["overall"]["global"][name] == pytest.approx(value, abs=0.01), name
    assert res["configs"]["global"]["levels"] == ["global"]
    assert res["configs"]["fused"]["levels"] == ["global", "region", "object"]
    assert res["configs"]["fused"]["weights"]["object"] > 0 and set(res["views_per_level"]) == {"global", "region", "object"}
    per_class = res["per_class"]
    assert sum(c["n_queries"] for c in per_class.values()) == res["n_queries"]
    assert set(per_class) == {v for v in labels.values()} - set(res["unscored_classes"])
    weighted = sum(c["n_queries"] * c["fused"]["P@10"] for c in per_class.values()) / res["n_queries"]
    assert weighted == pytest.approx(res["overall"]["fused"]["P@10"], abs=0.05)  # per-class and overall agree
    with pytest.raises(BenchError, match="not in the index"):
        similar_benchmark(index, dataset, "val", engine=engine, progress=False)
    with pytest.raises(BenchError, match="result cap 1000"):
        similar_benchmark(index, dataset, "test", k=1001, engine=engine, progress=False)


def test_label_key_and_class_folders_give_the_same_numbers(archive, tmp_path):
    dataset, index = archive
    entries = json.loads(dataset.read_text())
    for e in entries["images"]:
        e["label"] = e.pop("aid_class")
    relabelled = dataset.with_name("labelled.json")
    relabelled.write_text(json.dumps(entries))
    folder = tmp_path / "classes"  # <split>/<class>/x.jpg holding the same files (same image ids)
    for e in entries["images"]:
        dst = folder / e["split"] / e["label"] / e["filename"]
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(dataset.parent / e["filepath"], dst)
    engine = SearchEngine(index, device="cpu")
    runs = [similar_benchmark(index, d, "test", engine=engine, progress=False) for d in (dataset, relabelled, folder)]
    assert runs[0]["overall"] == runs[1]["overall"] == runs[2]["overall"]
    assert runs[0]["per_class"] == runs[2]["per_class"]


@pytest.mark.slow
def test_cli_writes_both_configurations(archive, tmp_path):
    dataset, index = archive
    out = tmp_path / "s.json"
    res = subprocess.run([sys.executable, "-m", "geoseek.cli", "bench", "similar", "--index", str(index), "--dataset",
                          str(dataset), "--weights", "0.5,0.25,0.25", "--device", "cpu", "--out", str(out), "-q"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    data = json.loads(out.read_text())
    assert data == json.loads(res.stdout) and set(data["overall"]) == {"global", "fused"}
    assert data["configs"]["fused"]["weights"] == {"global": 0.5, "region": 0.25, "object": 0.25}
    assert data["configs"]["fused"]["weights_from"] == "request" and "weights_from" not in data["configs"]["global"]
    assert set(data["overall"]["fused"]) == {f"mAP@{K}", f"mAP@{K}_strict", "P@10", "P@100"}
    assert {"mAP@K", "mAP@K_strict"} <= set(data["definitions"])


def test_cli_refuses_unlabelled_images(archive):
    dataset, index = archive
    entries = json.loads(dataset.read_text())
    test = [e for e in entries["images"] if e["split"] == "test"]
    del test[0]["aid_class"], test[1]["aid_class"]
    bad = dataset.with_name("unlabelled.json")
    bad.write_text(json.dumps(entries))
    # In-process (a second interpreter start costs ~10 s); the exit code and message are the CLI's own.
    res = CliRunner().invoke(app, ["bench", "similar", "--index", str(index), "--dataset", str(bad), "--device", "cpu"])
    assert res.exit_code == 2 and "2 image(s) of split 'test' have no class label" in res.stderr
