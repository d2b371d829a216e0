"""FAISS vs Milvus Lite as the vector store of the same index: recall, agreement and latency.

Same index directory, same model, same fusion: only the store that finds candidates differs
(FAISS flat in the index directory vs a Milvus Lite file filled from it, FLAT index, in-process
Milvus engine). Recall runs through `geoseek bench recall --store ...`, the command a user runs.
Latency is timed in one process, the two stores interleaved query by query, on encoded test
captions (text->image, fused and global-only) and on indexed images (image->image, which pushes
the "not this image" filter down). Medians and the Milvus/FAISS ratio go to
benchmarks/results/stores.json.

    python benchmarks/stores.py --index /tmp/geoseek-bench/recall/rsicd-test [--queries 300]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RSICD = DATA / "rsicd_aid150" / "dataset_rsicd_aid150.json"
OUT = ROOT / "benchmarks" / "results" / "stores.json"


def recall(index: Path, store: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "geoseek.cli", "bench", "recall", "--index", str(index), "--dataset", str(RSICD),
                          "--split", "test", "--store", store, "--device", "cpu", "-q"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def _stats(ms: list[float]) -> dict:
    a = np.asarray(ms)
    return {"p50_ms": round(float(np.median(a)), 3), "p95_ms": round(float(np.percentile(a, 95)), 3), "n": len(a)}


def latency(index: Path, db: Path, n_queries: int) -> dict:
    from geoseek.search import SearchEngine

    flat = SearchEngine(index, device="cpu")
    t = time.perf_counter()
    milvus = SearchEngine(index, device="cpu", store=str(db), encoder=flat.encoder)
    fill_s = time.perf_counter() - t
    state = flat.state()
    rng = np.random.default_rng(0)
    captions = [state.text.texts[i] for i in rng.choice(len(state.text.texts), n_queries, replace=False)]
    vectors = flat.encoder.encode_texts(captions)
    images = [state.images.ids[i] for i in rng.choice(len(state.images.ids), min(n_queries, 100), replace=False)]
    cases = {"t2i_fused": [(lambda e, q=q: e.search_text_vector(q, k=10)) for q in vectors],
             "t2i_global_only": [(lambda e, q=q: e.search_text_vector(q, k=10, levels=["global"])) for q in vectors],
             "i2i_fused": [(lambda e, i=i: e.search_image(i, k=10)) for i in images]}
    out = {}
    for name, calls in cases.items():
        times: dict[str, list[float]] = {"faiss": [], "milvus_lite": []}
        same = 0
        for call in calls:
            for _ in range(2):  # first round warms both; the second is timed
                ids = {}
                for store, engine in (("faiss", flat), ("milvus_lite", milvus)):
                    t = time.perf_counter()
                    resp = call(engine)
                    times[store].append(1000 * (time.perf_counter() - t))
                    ids[store] = [h.image_id for h in resp.results]
            same += ids["faiss"] == ids["milvus_lite"]
        timed = {s: v[1::2] for s, v in times.items()}
        row = {s: _stats(v) for s, v in timed.items()}
        row["milvus_over_faiss_p50"] = round(row["milvus_lite"]["p50_ms"] / row["faiss"]["p50_ms"], 2)
        row["identical_top10"] = f"{same}/{len(calls)}"
        out[name] = row
    return {"fill_seconds": round(fill_s, 2), "views": {lv: d.size for lv, d in state.levels.items()},
            "captions": len(state.text.text_ids), **out}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, required=True, help="an index of the RSICD/AID test split")
    ap.add_argument("--queries", type=int, default=300)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stores = {"faiss": "faiss", "milvus_lite": str(Path(tmp) / "recall.db")}
        rec = {name: recall(args.index, spec) for name, spec in stores.items()}
        lat = latency(args.index, Path(tmp) / "latency.db", args.queries)
    keys = ("t2i", "i2t", "mR")
    result = {
        "index": f"index {args.index.name} ({lat['views']['global']} images), fused with the index's weights",
        "stores": {"faiss": "FAISS flat (fp16 codes) from the index directory",
                   "milvus_lite": "Milvus Lite 2.5 file (FLAT index, float32), filled from the same index version"},
        "cpus": os.cpu_count(),
        "recall": {name: {k: r[k] for k in keys} for name, r in rec.items()},
        "recall_identical": all(rec["faiss"][k] == rec["milvus_lite"][k] for k in keys),
        "latency": lat,
        "note": "latency per request inside one process, text already encoded (t2i); interleaved per query, "
                "second of two calls timed; Milvus Lite answers over a local gRPC socket",
    }
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
