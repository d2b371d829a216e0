"""Search latency, ANN recall and a load run.

1. Real index (the RSICD/AID archive, ~10k images / 40k views; build it with benchmarks/full_index.py):
   text->image p50/p95/p99, fused vs global-only, excluding text encoding (queries pre-encoded).
2. Synthetic 1M views (100k images x 1 global + 3 region + 6 object, clustered 384-d vectors), same engine
   code: fused with the ANN indices the builder chooses (flat <= 100k, HNSW above) vs fused all-flat (exact)
   vs global-only; ANN recall@10 against exact flat search per level and for the fused top-10.
3. Load: `geoseek serve` on 127.0.0.1 and N concurrent asyncio/httpx clients, a bounded number of requests
   each (text encoding included), counting errors.

All configurations of a part run in the same process, interleaved per query, so ratios are like-for-like.

    python benchmarks/search_latency.py [--index /tmp/x] [--clients 8] [--requests 25]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from geoseek.cli.launch import served  # noqa: E402
from synthetic_index import queries_near, synthetic_state  # noqa: E402

from geoseek.bench.timing import percentiles as stats, time_configs  # noqa: E402
from geoseek.search import SearchEngine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT.parent / "shared" / "data" / "rsicd_aid150" / "dataset_rsicd_aid150.json"
OUT = ROOT / "benchmarks" / "results" / "search_latency.json"


def real_index(index: Path, n_queries: int) -> dict:
    engine = SearchEngine(index, device="cpu")
    data = json.loads(DATASET.read_text())
    caps = sorted({s["raw"].strip() for e in data["images"] if e["split"] == "test" for s in e["sentences"] if s["raw"].strip()})
    caps = caps[:: max(1, len(caps) // n_queries)][:n_queries]
    t = time.perf_counter()
    q = engine.encoder.encode_texts(caps)
    enc_ms = 1000 * (time.perf_counter() - t) / len(caps)
    st = engine.state()
    res = time_configs({
        "fused": lambda v: engine.search_text_vector(v, k=10),
        "global_only": lambda v: engine.search_text_vector(v, k=10, levels=["global"]),
    }, q)
    res["fused_over_global_p50"] = round(res["fused"]["p50_ms"] / res["global_only"]["p50_ms"], 2)
    return {"index": str(index), "images": len(st.images.ids), "views": {lv: d.size for lv, d in st.levels.items()},
            "index_kinds": {lv: st.manifest.indices[lv].kind for lv in st.levels}, "text_encoding_ms_per_query": round(enc_ms, 2),
            "latency": res}


def synthetic(n_images: int, n_queries: int) -> dict:
    t = time.perf_counter()
    ann_state, raw = synthetic_state(n_images)
    build_ann = time.perf_counter() - t
    t = time.perf_counter()
    flat_state, _ = synthetic_state(n_images, kinds={"global": "flat", "region": "flat", "object": "flat"})
    build_flat = time.perf_counter() - t
    ann = SearchEngine(".", state=ann_state)
    flat = SearchEngine(".", state=flat_state)
    q = queries_near(raw, n_queries)
    res = time_configs({
        "fused_ann": lambda v: ann.search_text_vector(v, k=10),
        "fused_flat": lambda v: flat.search_text_vector(v, k=10),
        "global_only": lambda v: ann.search_text_vector(v, k=10, levels=["global"]),
    }, q)
    res["fused_ann_over_global_p50"] = round(res["fused_ann"]["p50_ms"] / res["global_only"]["p50_ms"], 2)
    res["fused_flat_over_fused_ann_p50"] = round(res["fused_flat"]["p50_ms"] / res["fused_ann"]["p50_ms"], 2)
    recall = {}
    for lv, d in ann_state.levels.items():
        _, got = d.index.search(q, 10)
        _, exact = flat_state.levels[lv].index.search(q, 10)
        recall[lv] = round(float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, exact)])), 4)
    top = [len({h.image_id for h in ann.search_text_vector(v, k=10).results} &
               {h.image_id for h in flat.search_text_vector(v, k=10).results}) / 10 for v in q]
    recall["fused_top10_vs_exact"] = round(float(np.mean(top)), 4)
    return {"images": n_images, "views": {lv: d.size for lv, d in ann_state.levels.items()},
            "total_views": int(sum(d.size for d in ann_state.levels.values())),
            "index_kinds": {lv: ann_state.manifest.indices[lv].kind for lv in ann_state.levels},
            "index_params": {lv: ann_state.manifest.indices[lv].params for lv in ann_state.levels},
            "build_seconds": {"ann": round(build_ann, 1), "flat": round(build_flat, 1)},
            "latency": res, "recall_at_10_vs_exact": recall}


async def _load(base: str, queries: list[str], clients: int, per_client: int) -> dict:
    import httpx

    lat, errors = [], []
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        async def worker(w: int) -> None:
            for i in range(per_client):
                t = time.perf_counter()
                try:
                    r = await http.post("/v1/search/text", json={"query": queries[(w * per_client + i) % len(queries)], "k": 10})
                    if r.status_code != 200 or len(r.json()["results"]) != 10:
                        errors.append(r.status_code)
                except httpx.HTTPError as exc:
                    errors.append(type(exc).__name__)
                lat.append(1000 * (time.perf_counter() - t))

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(clients)))
        wall = time.perf_counter() - t0
    return {"clients": clients, "requests": len(lat), "errors": len(errors), "qps": round(len(lat) / wall, 2),
            "latency_incl_text_encoding": stats(lat)}


def load_run(index: Path, clients: int, per_client: int) -> dict:
    data = json.loads(DATASET.read_text())
    queries = sorted({s["raw"].strip() for e in data["images"] if e["split"] == "val" for s in e["sentences"] if s["raw"].strip()})
    with served(index) as base:
        return asyncio.run(_load(base, queries, clients, per_client))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", type=Path, default=Path("/tmp/x"))
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--synthetic-images", type=int, default=100_000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=25, help="per client")
    args = ap.parse_args()
    if not (args.index / "CURRENT").is_file():
        print(f"no index at {args.index}; run: python benchmarks/full_index.py --index {args.index}", file=sys.stderr)
        return 2
    out = {"note": "CPU only (2 cores); search latency excludes text encoding except in the load run",
           "real_index": real_index(args.index, args.queries)}
    print(json.dumps(out["real_index"]), flush=True)
    out["synthetic_1m"] = synthetic(args.synthetic_images, args.queries)
    print(json.dumps(out["synthetic_1m"]), flush=True)
    out["load"] = load_run(args.index, args.clients, args.requests)
    print(json.dumps(out["load"]), flush=True)
    OUT.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
