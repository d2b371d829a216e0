"""The speed-and-memory sections of benchmarks/README.md (`geoseek bench speed` results)."""
from __future__ import annotations

from summary_tables import table


def chips_index_name(sp: dict | None) -> str:
    """Which chip index a speed result measured: the official RSICD test index, or (older results) rsicd_aid150's."""
    return "RSICD official test index" if sp and "official" in sp["index"] else "rsicd_aid150 test index"


def speed_section(name: str, sp: dict, out: list[str], worse: list[str]) -> None:
    q = sp["query"]
    lat = q["latency_excl_text_encoding"]
    rows = [[c, r["p50_ms"], r["p95_ms"], r["p99_ms"], r["p50_ms_ratio_to_baseline"],
             r.get("encoder_calls_per_query", "-"), q[f"recall_at_{q['k']}_vs_exact"].get(c, "exact")]
            for c, r in lat.items()]
    out += [f"### {name}", "",
            f"{sp['images']:,} images; views {', '.join(f'{k} {v:,}' for k, v in sp['views'].items())}. "
            f"Latency over {q['queries']} pre-encoded text queries (k={q['k']}), configurations interleaved; "
            f"ANN indices built in memory from the same vectors.", "",
            table(["configuration", "p50 ms", "p95 ms", "p99 ms", "p50 / baseline", "refine encoder calls/query",
                   f"top-{q['k']} agreement with exact"], rows), ""]
    if q["variants_skipped"]:
        out += ["Not measured: " + "; ".join(f"{k}: {v}" for k, v in q["variants_skipped"].items()) + ".", ""]
    qps = q["qps_incl_text_encoding"]
    mem = q["bytes_per_image"]
    out += [table(["configuration", "QPS (text encoding incl.)", "QPS / baseline"],
                  [[c, r["qps"], r["qps_ratio_to_baseline"]] for c, r in qps.items()]), "",
            table(["configuration", "bytes/image (FAISS)", "(rescoring vectors)", "(view metadata)", "total",
                   "total / baseline"],
                  [[c, r["faiss"], r["rescoring_vectors"], r.get("view_metadata", "-"), r["total"],
                    r["total_ratio_to_baseline"]] for c, r in mem.items()]), ""]
    worse.append(f"{name}: fused search p50 is {lat['fused_flat']['p50_ms_ratio_to_baseline']}x the global-only "
                 f"baseline's and its index {mem['fused_flat']['total_ratio_to_baseline']}x the bytes per image.")
    if "fused_flat_refine" in lat and lat["fused_flat_refine"].get("encoder_calls_per_query"):
        worse.append(f"{name}: zoom refine costs {lat['fused_flat_refine']['encoder_calls_per_query']} encoder calls "
                     f"per query (p50 {lat['fused_flat_refine']['p50_ms']} ms).")
    ix = sp.get("indexing")
    if ix:
        rows = [[c, r["images_per_s"], r["images_per_s_ratio_to_baseline"], r["encoder_calls_per_image"],
                 r["encoder_calls_per_image_ratio_to_baseline"], r["bytes_per_image"]["total"],
                 r["search_latency_on_sample"]["p50_ms"]] for c, r in ix["configs"].items()]
        out += [f"Indexing {ix['sample_images']} of its images (no captions), median of {ix['repeats']} runs:", "",
                table(["configuration", "images/s", "/ baseline", "encoder calls/image", "/ baseline", "bytes/image",
                       "search p50 ms on the sample"], rows), ""]
