"""The ten-million-view section of benchmarks/README.md (from scale_10m.json and scale_10m_refine.json)."""
from __future__ import annotations

from summary_tables import table

from geoseek.indexer.builder import HNSW_EF_SEARCH
from geoseek.search.candidates import REFINE_FACTOR


def scale_10m_section(s: dict, tune: dict | None, out: list[str]) -> None:
    """Build, memory, latency and agreement of the 10M-view index; the re-ranking factor's tuning run beside it."""
    b, sv = s["build"], s["serve"]
    kinds = ", ".join(f"{lv} {v['kind']} ({v['count']:,})" for lv, v in b["indices"].items() if lv != "text")
    peak, load = sv["rss_after_queries_mb"], sv["rss_after_load_mb"]
    rows = [[f"{phase}, {name.replace('_', '-')}", sv[f"{phase}_{name}_ms"]["p50"], sv[f"{phase}_{name}_ms"]["p95"]]
            for phase in ("warm", "cold") for name in ("fused", "global_only")]
    out += ["## Ten million views (`benchmarks/scale_10m.py`)", "",
            f"{s['images']:,} images x 10 views = {s['views']:,} synthetic clustered {s['dim']}-d views, built through "
            f"the catalog, Parquet shards and publish step ({kinds}), served by a fresh process after dropping its page "
            f"cache; {s['queries']} queries, text encoding excluded; {s['machine']}.", "",
            f"- build: shards {b['write_shards_s']:,} s, publish {b['publish_s']:,} s, builder peak RSS "
            f"{b['peak_rss_mb']:,} MB" + (f" (sampled peaks: {b['peak_anon_mb']:,} MB held, {b['peak_file_mb']:,} MB "
                                          "mapped file pages)" if "peak_anon_mb" in b else "")
            + f"; disk {s['disk_gb']} GB (shards, catalog, live version)",
            f"- replica: {load['VmRSS']:,} MB after load ({sv['load_s']} s), peak {peak['VmHWM']:,} MB after the queries "
            f"({peak['RssAnon']:,} MB its own, {peak['RssFile']:,} MB mapped file pages)",
            f"- fused top-10 agreement with exact fused search: {s['fused_top10_agreement_with_exact']}",
            *([f"- note: {s['note']}"] if "note" in s else []), "",
            table(["pass, configuration", "p50 ms", "p95 ms"], rows), ""]
    if tune:
        rows = [[c["efSearch"], c["refine_factor"] or "none (PQ order)", f"{c['agreement']:.4f}", c["warm_fused_ms"]["p50"],
                 c["warm_fused_ms"]["p95"]] for c in tune["configs"]]
        out += [f"Search-time choices, measured on {tune['queries']} other queries (seed {tune['query_seed']}) than those "
                f"above: HNSW efSearch (shipped: {HNSW_EF_SEARCH}) and the rows PQ levels fetch per row needed, "
                f"re-ranked exactly (`REFINE_FACTOR`, shipped: {REFINE_FACTOR}):", "",
                table(["efSearch", "PQ rows per row needed", "agreement", "warm fused p50 ms", "p95 ms"], rows), ""]
