"""geoseek bench speed: every configuration is measured against the global-only flat baseline, and the
counts it reports (encoder calls, views, bytes, ANN agreement) are the index's real ones."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import faiss
import pytest
from PIL import Image

from geoseek.bench import variants
from geoseek.bench.speed import BASELINE, query_texts, speed_benchmark
from geoseek.bench.timing import (
    concurrent_qps,
    count_encoder_images,
    percentiles,
    time_configs,
)
from geoseek.bench.variants import VariantError, bytes_per_image, kinds_of, with_kind
from geoseek.indexer import run_index
from geoseek.models import load_encoder
from geoseek.search import SearchEngine
from geoseek.search.state import IndexState
from tests.conftest import DATA


def test_percentiles_and_interleaving():
    assert percentiles(list(range(1, 101))) == {"p50_ms": 50.5, "p95_ms": 95.05, "p99_ms": 99.01, "n": 100}
    order = []
    res = time_configs({"a": lambda q: order.append(("a", q)), "b": lambda q: order.append(("b", q))}, [1, 2], warmup=0)
    assert order == [("a", 1), ("b", 1), ("a", 2), ("b", 2)]  # query i of every config before query i+1
    assert res["a"]["n"] == 2
    qps = concurrent_qps({"x": lambda q: q}, list(range(20)), clients=3, repeats=2)
    assert qps["x"]["clients"] == 3 and len(qps["x"]["rounds"]) == 2 and qps["x"]["qps"] > 0


def test_encoder_calls_are_counted_once_per_image_and_restored(tiny_rn_config):
    enc = load_encoder(str(tiny_rn_config), device="cpu")
    ims = [Image.new("RGB", (80, 80), (i * 40, 0, 0)) for i in range(3)]
    with count_encoder_images(enc) as calls:
        enc.encode_images(ims)
        enc.encode_dense(ims[:2])  # goes through encode_images_and_dense: counted there only
        enc.encode_texts(["a text is not an image"])
    assert calls["images"] == 5
    assert "encode_images" not in vars(enc) and "encode_images_and_dense" not in vars(enc)
    enc.encode_images(ims)
    assert calls["images"] == 5


@pytest.fixture(scope="module")
def speed_index(tmp_path_factory, tiny_rn_config):
    """24 captioned chips plus one 712x557 DOTA scene (DRIS and uniform tiling differ on it)."""
    from tests.conftest import RSICD, rsicd_images

    root = tmp_path_factory.mktemp("speed")
    entries = rsicd_images(24)
    for e in entries:
        (root / "archive" / e["filepath"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(RSICD / e["filepath"], root / "archive" / e["filepath"])
    (root / "archive" / "dataset.json").write_text(json.dumps({"dataset": "mini", "images": entries}))
    shutil.copy(DATA / "dota_samples" / "images" / "P1888.png", root / "scene.png")
    index = root / "index"
    run_index([root / "archive" / "dataset.json", root / "scene.png"], index, model=str(tiny_rn_config),
              device="cpu", progress=False)
    return index


def test_ann_variant_swaps_only_the_index(speed_index, monkeypatch):
    state = IndexState.load(speed_index, gpu=False)  # CPU kinds, also on a machine with a GPU
    with pytest.raises(VariantError, match="at least 1024"):
        with_kind(state, "hnsw")  # every level here is smaller than the builder's ANN threshold
    monkeypatch.setattr(variants, "ANN_MIN_VECTORS", 20)
    hnsw = with_kind(state, "hnsw")
    assert kinds_of(state) == {"global": "flat", "region": "flat", "object": "flat"}
    assert kinds_of(hnsw)["region"] == "hnsw" and kinds_of(hnsw)["global"] == "hnsw"
    assert hnsw.levels["region"].vectors is state.levels["region"].vectors
    exact, ann = SearchEngine(speed_index, state=state), SearchEngine(speed_index, state=hnsw)
    q = exact.encoder.encode_texts(["many buildings around a square"])[0]
    # HNSW over a few hundred vectors with efSearch 512 visits them all: same ranking as the exact scan.
    assert [h.image_id for h in ann.search_text_vector(q, k=10).results] == \
           [h.image_id for h in exact.search_text_vector(q, k=10).results]


def test_bytes_per_image_counts_faiss_and_rescoring_vectors(speed_index):
    state = IndexState.load(speed_index)
    n, d = len(state.images.ids), state.manifest.model.dim
    base = bytes_per_image(state, ["global"], rescoring=False)
    assert base["rescoring_vectors"] == 0.0
    assert n * d * 2 <= base["faiss"] * n <= n * d * 2 + 4096  # fp16 codes + a small header
    fused = bytes_per_image(state, ["global", "region", "object"], rescoring=True)
    views = sum(state.levels[lv].size for lv in state.levels)
    assert fused["rescoring_vectors"] == pytest.approx(views * d * 2 / n, abs=0.1)
    # Per view: bbox and node box (4 int32 each), WGS84 bounds (4 float64), image index (int32), depth (int16).
    assert fused["view_metadata"] == pytest.approx(views * (16 + 16 + 32 + 4 + 2) / n, abs=0.1)
    assert fused["total"] == pytest.approx(fused["faiss"] + fused["rescoring_vectors"] + fused["view_metadata"], abs=0.2)
    assert base["view_metadata"] == 0.0 and fused["total"] > base["total"]


@pytest.mark.gpu  # its GPU variant and CUDA indexing row exist only with a GPU
def test_speed_benchmark_reports_every_configuration_next_to_the_baseline(speed_index, monkeypatch):
    monkeypatch.setattr(variants, "ANN_MIN_VECTORS", 20)  # so that this small index gets an HNSW variant
    res = speed_benchmark(speed_index, sample=6, queries=8, clients=2, repeats=1, workers=1)
    state = IndexState.load(speed_index)
    assert res["images"] == 25 and res["baseline"] == BASELINE == "global_flat"
    q = res["query"]
    lat = q["latency_excl_text_encoding"]
    assert {"global_flat", "fused_flat", "fused_flat_refine"} <= set(lat)
    assert all(row["n"] == 8 and row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"] for row in lat.values())
    assert lat[BASELINE]["p50_ms_ratio_to_baseline"] == 1.0
    assert lat["fused_flat_refine"]["encoder_calls_per_query"] > 0  # chips are larger than the 64 px input
    assert set(q["variants_skipped"]) == ({"gpu"} if faiss.get_num_gpus() == 0 else set())
    assert {"global_hnsw", "fused_hnsw"} <= set(lat) and q["variant_kinds"]["hnsw"]["region"] == "hnsw"
    # IVF-PQ only where a level has 256 vectors to train on: the object level (25 cells per view), not global (25).
    assert q["variant_kinds"]["ivfpq"]["object"] == "ivfpq" and q["variant_kinds"]["ivfpq"]["global"] == "flat"
    recall = q["recall_at_10_vs_exact"]
    # HNSW over these few vectors with efSearch 512 visits them all: it returns exactly the exact top-k.
    assert recall["global_hnsw"] == 1.0 and recall["fused_hnsw"] == 1.0
    assert recall["global_ivfpq"] == 1.0 and 0.0 < recall["fused_ivfpq"] <= 1.0  # global is flat in that variant
    assert q["bytes_per_image"]["fused_hnsw"]["faiss"] > q["bytes_per_image"]["fused_flat"]["faiss"]
    assert q["qps_incl_text_encoding"][BASELINE]["qps"] > 0 and "fused_flat" in q["qps_incl_text_encoding"]
    assert q["bytes_per_image"]["fused_flat"]["total_ratio_to_baseline"] > 1
    ix = res["indexing"]["configs"]
    assert ix[BASELINE]["encoder_calls_per_image"] == 1.0 and ix[BASELINE]["views_per_image"] == {"global": 1.0}
    # Encoder calls are global + region views (objects come from the same forward pass).
    for name in ("fused_dris", "fused_uniform"):
        v = ix[name]["views_per_image"]
        assert ix[name]["encoder_calls_per_image"] == pytest.approx(v["global"] + v["region"], abs=0.01)
    assert ix["fused_uniform"]["encoder_calls_per_image"] > ix["fused_dris"]["encoder_calls_per_image"] > 1
    assert res["indexing"]["sample_images"] == 6 and all(r["images_per_s"] > 0 for r in ix.values())
    assert query_texts(state, 8) == sorted(set(query_texts(state, 8)))  # distinct captions of the index


@pytest.mark.slow
def test_speed_cli_writes_json_and_refuses_bad_input(speed_index, tmp_path):
    out = tmp_path / "speed.json"
    cmd = [sys.executable, "-m", "geoseek.cli", "bench", "speed", "--index", str(speed_index), "--no-indexing",
           "--queries", "4", "--repeats", "1", "--clients", "2", "--out", str(out)]
    run = subprocess.run(cmd, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert json.loads(out.read_text())["query"]["queries"] == 4 and "indexing" not in json.loads(run.stdout)
    bad = subprocess.run(cmd[:6] + [str(tmp_path / "nope")] + cmd[7:], capture_output=True, text=True)
    assert bad.returncode == 2 and "error:" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.slow
def test_speed_refuses_an_index_whose_sources_are_gone(tmp_path, tiny_rn_config):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("P1888.png",):
        shutil.copy(DATA / "dota_samples" / "images" / name, src / name)
    run_index([src], tmp_path / "ix", model=str(tiny_rn_config), device="cpu", progress=False)
    shutil.rmtree(src)
    run = subprocess.run([sys.executable, "-m", "geoseek.cli", "bench", "speed", "--index", str(tmp_path / "ix"),
                          "--queries", "2", "--repeats", "1", "--clients", "1"], capture_output=True, text=True)
    assert run.returncode == 2 and "source file(s) of the index are gone" in run.stderr, run.stderr
