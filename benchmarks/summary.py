"""Write benchmarks/README.md and its PNG plots from the JSON in benchmarks/results/ (nothing is re-measured).

    python benchmarks/summary.py

Every number in the README is read from a results file by this script, so the summary cannot
drift from the measurements; a results file that is missing leaves its section out, and says so.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from summary_eval import (cells_sections, finetune_section, level_variants_section, loss_ablation_section,
                          orientations_section, rsicd_official_section, scenes_section, similar_section)
from summary_plots import CONTROL_QUERIES, RESULTS, plots
from summary_provenance import is_current, provenance_section, shipped_model_id, stale_note
from summary_scale import scale_10m_section
from summary_speed import chips_index_name, speed_section
from summary_tables import RECALL_HEADER, ratio, recall_row, table, weights_str

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "benchmarks" / "README.md"


def load_before() -> dict | None:
    return load("search_latency_before.json")


def load(name: str) -> dict | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.is_file() else None


# -- sections ------------------------------------------------------------------------------------
def headline(official: dict | None, rec: dict | None, cap: dict | None, sp: dict | None, scenes: dict | None,
             loc: dict | None, nwpu: dict | None = None, sim: dict | None = None) -> list[str]:
    """The few numbers the project README quotes, each next to the baseline from the same run."""
    rows = []
    for name, r in (("RSICD official test", official), ("rsicd_aid150 test (smoke, not comparable)", rec)):
        if not r:
            continue
        rows.append([f"{name} mR (%), own-image rule", r["global_only"]["mR"], r["fused_tuned"]["mR"],
                     ratio(r["fused_tuned"]["mR"], r["global_only"]["mR"])])
    for name, r in (("RSICD official test", official), ("rsicd_aid150 test", rec)):
        if r:
            g, f = r["global_only"]["t2i"]["R@10"], r["fused_tuned"]["t2i"]["R@10"]
            rows.append([f"{name} text->image R@10 (%)", g, f, ratio(f, g)])
    if nwpu:
        for label, runs in nwpu["summary"].items():
            g, f = runs["global"]["mAP"], runs["fused"]["mAP"]
            w = weights_str(nwpu["indexes"][label]["configs"]["fused"]["weights"])
            rows.append([f"NWPU VHR-10 scene retrieval mAP, {label} index: global-only vs fused {w} "
                         f"(chance {runs['global']['chance_mAP']:.3f})", f"{g:.4f}", f"{f:.4f}", ratio(f, g)])
    for key, name in (("rsicd_test", "RSICD test"), ("resisc14_test", "RESISC-14 test")):
        r = (sim or {}).get(key, {}).get("index_weights")
        if r:
            m = f"mAP@{r['K']}_strict" if f"mAP@{r['K']}_strict" in r["overall"]["global"] else f"mAP@{r['K']}"
            g, f = r["overall"]["global"][m], r["overall"]["fused"][m]
            rows.append([f"image->image {m.replace('_strict', ' (/min(R, K))')}, {name}: global-only vs fused "
                         f"{weights_str(r['configs']['fused']['weights'])}", g, f, ratio(f, g)])
    if cap:
        g, f = cap["global_only"]["consensus"]["CIDEr"], cap["fused_tuned"]["consensus"]["CIDEr"]
        rows.append(["retrieval captioning CIDEr, test", f"{g:.3f}", f"{f:.3f}", ratio(f, g)])
    for name, res in ((chips_index_name(sp), sp), ("five large scenes", scenes)):
        if not res:
            continue
        lat, q = res["query"]["latency_excl_text_encoding"], res["query"]
        rows.append([f"query p50, ms ({name})", lat["global_flat"]["p50_ms"], lat["fused_flat"]["p50_ms"],
                     f"{lat['fused_flat']['p50_ms_ratio_to_baseline']}x"])
        qps = q["qps_incl_text_encoding"]
        rows.append([f"QPS incl. text encoding, {qps['global_flat']['clients']} threads ({name})", qps["global_flat"]["qps"],
                     qps["fused_flat"]["qps"], f"{qps['fused_flat']['qps_ratio_to_baseline']}x"])
        mem = q["bytes_per_image"]
        rows.append([f"index bytes/image ({name})", mem["global_flat"]["total"], mem["fused_flat"]["total"],
                     f"{mem['fused_flat']['total_ratio_to_baseline']}x"])
    if scenes and "indexing" in scenes:
        ix = scenes["indexing"]["configs"]
        rows.append(["index bytes/image, scenes: uniform tiling vs DRIS", ix["fused_uniform"]["bytes_per_image"]["total"],
                     ix["fused_dris"]["bytes_per_image"]["total"],
                     ratio(ix["fused_dris"]["bytes_per_image"]["total"], ix["fused_uniform"]["bytes_per_image"]["total"])])
        rows.append(["encoder calls/image, scenes: uniform tiling vs DRIS", ix["fused_uniform"]["encoder_calls_per_image"],
                     ix["fused_dris"]["encoder_calls_per_image"],
                     ratio(ix["fused_dris"]["encoder_calls_per_image"], ix["fused_uniform"]["encoder_calls_per_image"])])
    out = ["## Headline", "", table(["", "baseline", "GeoSeek", "GeoSeek / baseline"], rows), ""] if rows else []
    if loc and "uniform_refine_off" in loc and "dris_refine_off" in loc:
        u, d = loc["uniform_refine_off"], loc["dris_refine_off"]
        out += [f"Joplin localisation, building share of the top-{d['top']} hit boxes for \"buildings\": "
                f"uniform chips (baseline) {u['queries']['buildings']['region']['cover']:.3f}, DRIS regions "
                f"{d['queries']['buildings']['region']['cover']:.3f}, DRIS objects {d['queries']['buildings']['object']['cover']:.3f}, "
                f"uniform objects {u['queries']['buildings']['object']['cover']:.3f}; buildings are "
                f"{100 * d['building_fraction']:.1f}% of the scene.", ""]
    return out


def recall_section(rec: dict, mini: dict | None, tune: dict | None, out: list[str], worse: list[str]) -> None:
    rows = []
    names = {"global_only": "baseline: global-only, flat", "fused_tuned": "fused, weights tuned on val",
             "fused_tuned_refine": "fused (val-tuned) + zoom refine"}
    rows = [recall_row(label, rec[key]) for key, label in names.items()]
    if mini:
        rows.append(recall_row("fused, generic 0.5/0.3/0.2", mini["rsicd_aid150_test"]["fused_default_weights"]))
    n = rec["global_only"]["n_queries"]
    out += ["## Recall@K on rsicd_aid150 test (smoke benchmark, not comparable)", "",
            f"{rec['global_only']['gallery_images']:,} test images (AID at 150 px, so NOT comparable to published RSICD "
            f"numbers), {n['t2i']:,} text->image and {n['i2t']:,} image->text queries, scored by the "
            f"{rec['global_only']['match']['description']} (`geoseek bench recall`). "
            f"Fusion weights chosen on val by `geoseek bench tune-fusion`: {weights_str(rec['tuned_on_val']['weights'])}.", "",
            table(RECALL_HEADER, rows), "", "![recall per configuration](results/recall_per_config.png)", ""]
    base, fused = rec["global_only"]["mR"], rec["fused_tuned"]["mR"]
    if fused <= base:
        worse.append(f"Recall on rsicd_aid150 test: fused mR {fused:.2f} vs global-only {base:.2f} (no gain).")
    if rows[-1][0].startswith("fused, generic") and rows[-1][-1] < base:
        worse.append(f"Recall with generic weights 0.5/0.3/0.2: mR {rows[-1][-1]:.2f} < global-only {base:.2f}: "
                     "object views lower recall for this model.")
    if rec["fused_tuned_refine"]["mR"] == fused:
        out += ["Zoom refine leaves chip recall unchanged: RSICD/AID chips (150 px) are below the 160 px encoder "
                "input, so there is nothing finer to look at; refine is measured on the Joplin scene below.", ""]
    if tune:
        g, c = tune["global_only"], tune["chosen"]
        out += [f"Tuning on val ({tune['n_queries']['t2i']:,} t2i queries, grid step {tune['grid_step']}): "
                f"global-only mR {g['mR']:.2f}, best weights {weights_str(c['weights'])} mR {c['mR']:.2f}.", ""]
    if mini:
        rows = [[name, r["global_only"]["mR"], r["fused"]["mR"], r["fused_default_weights"]["mR"]]
                for name, r in (("rs_caption_mini, trained default model", mini["rs_caption_mini"]),
                                ("rs_caption_mini, untrained tower (floor)", mini["rs_caption_mini_random_init"]))]
        m = mini["rs_caption_mini"]
        if m["fused"]["mR"] < m["global_only"]["mR"]:
            worse.append(f"rs_caption_mini: fused mR {m['fused']['mR']:.2f} < global-only {m['global_only']['mR']:.2f}.")
        out += ["Second dataset, 29 native-size UCM/Sydney/RSICD images (gallery of 29):", "",
                table(["", "global-only mR", "fused (manifest weights) mR", "fused 0.5/0.3/0.2 mR"], rows), ""]


def caption_section(cap: dict, out: list[str], worse: list[str]) -> None:
    rows = []
    for key, label in (("global_only", "baseline: global-only"), ("fused_tuned", "fused, val-tuned weights"),
                       ("fused_default_weights", "fused, 0.5/0.3/0.2")):
        if key in cap:
            for mode in ("top1", "consensus"):
                s = cap[key][mode]
                rows.append([label, mode, *(f"{s[m]:.4f}" for m in ("BLEU-1", "BLEU-4", "CIDEr"))])
    c = cap["global_only"]
    out += ["## Retrieval captioning (`geoseek bench caption`)", "",
            f"Each of the {c['n_images']:,} {c['split']} images of `{Path(c['dataset']).name}` is captioned by "
            "image->text search over the "
            f"{c['caption_pool']:,} train captions; 'consensus' re-ranks the top {c['candidates']} by their mean "
            "similarity to each other (Devlin et al. 2015). BLEU and CIDEr(-D) from pycocoevalcap.", "",
            table(["configuration", "choice", "BLEU-1", "BLEU-4", "CIDEr"], rows), ""]
    if "rsicd_aid150" in c["dataset"]:
        out += ["With these chips fused scoring equals global-only when the object weight is 0: a 150 px chip has "
                "no region views, so its region score is its global score.", ""]
    ex = c["examples"][:3]
    out += ["Examples (global-only, consensus): " + "; ".join(f"*{e['image']}*: \"{e['caption']}\"" for e in ex), ""]
    if cap["fused_tuned"]["consensus"]["CIDEr"] <= c["consensus"]["CIDEr"]:
        worse.append(f"Captioning: fused CIDEr {cap['fused_tuned']['consensus']['CIDEr']:.3f} vs global-only "
                     f"{c['consensus']['CIDEr']:.3f}.")


def localise_section(loc: dict, out: list[str], worse: list[str]) -> None:
    first = next(iter(loc.values()))
    queries = list(first["queries"])
    targets = [q for q in queries if q not in CONTROL_QUERIES] or queries
    rows = []
    for key, r in loc.items():
        tiling, refine = key.split("_refine_")
        for lv in r["levels"]:
            per = [f"{r['queries'][q][lv]['overlap']:.2f} / {r['queries'][q][lv]['cover']:.3f}" for q in queries]
            ch = r["chance"][lv]
            m = {k: sum(r["queries"][q][lv][k] for q in targets) / len(targets) for k in ("overlap", "cover")}
            calls = r.get("refine_encoder_calls", 0) if lv == "region" and r["refine"] else "-"
            rows.append([tiling, refine, lv, r["views"][lv], *per, f"{m['overlap']:.2f} / {m['cover']:.3f}",
                         f"{ch['overlap']:.2f} / {ch['cover']:.3f}", calls])
            if m["cover"] <= ch["cover"] or m["overlap"] < ch["overlap"]:
                worse.append(f"Localisation ({tiling} tiling, refine {refine}, {lv}), building queries: overlap/cover "
                             f"{m['overlap']:.2f}/{m['cover']:.3f} against chance {ch['overlap']:.2f}/{ch['cover']:.3f}.")
    off, on = loc.get("dris_refine_off"), loc.get("dris_refine_on")
    if off and on:
        before, after = ({q: r["queries"][q]["region"]["cover"] for q in queries} for r in (off, on))
        lower = [q for q in targets if after[q] < before[q]]
        if lower:
            worse.append("Zoom refine on the Joplin DRIS index lowers region cover for " + ", ".join(
                f"\"{q}\" ({before[q]:.3f} -> {after[q]:.3f})" for q in lower)
                + f", for {on['refine_encoder_calls']} extra encoder calls over {len(queries)} queries.")
    uni = loc.get("uniform_refine_off")
    if off and uni:
        for lv in off["levels"]:
            d, u = (sum(r["queries"][q][lv]["cover"] for q in targets) / len(targets) for r in (off, uni))
            if d < u:
                worse.append(f"Localisation, {lv} level: DRIS views cover less building than uniform tiles for the "
                             f"building queries ({d:.3f} vs {u:.3f}), with {off['views']['region']} region views "
                             f"instead of {uni['views']['region']}.")
    out += ["## Localisation on the Joplin scene (`geoseek bench localise`)", "",
            f"Top-{first['top']} region and object views per query on the 3072x2048 post-tornado mosaic. "
            "Each cell is overlap / cover: 'overlap' = share of hits whose box touches a ground-truth "
            "building box, 'cover' = mean share of a hit box's area that is building "
            f"(buildings are {100 * first['building_fraction']:.1f}% of the scene). Large boxes touch some building by "
            "size alone, so every figure stands next to chance (all views of that level). The baseline a user would "
            "build, tiling the scene into encoder-sized chips with one global vector each, is the uniform-tiling "
            "region row without refine. The queries carry no damage label: the same building boxes score all three, "
            "and \"a road\" is a control that should not favour buildings.", "",
            table(["tiling", "refine", "level", "views", *queries, "mean of building queries", "chance", "refine encoder calls"], rows), "",
            "Uniform tiles are already at native resolution, so refine has nothing to split there (0 encoder calls).", "",
            "![localisation](results/localise_joplin.png)", ""]


def other_sections(dris: dict | None, thr: dict | None, full: dict | None, lat: dict | None, out: list[str]) -> None:
    if dris:
        m = dris["mosaic_jpeg"]
        b = dris["buildings_per_megapixel"]
        rows = [[name, f"{o['size'][0]}x{o['size'][1]}", o["uniform_calls"], o["dris_calls_default_budget"],
                 ratio(o["dris_calls_default_budget"], o["uniform_calls"]), o["dris_calls_unbudgeted"]]
                for name, o in dris["content_only"].items()]
        out += ["## DRIS view planning (`benchmarks/dris_joplin.py`)", "",
                f"Joplin post mosaic {m['size'][0]}x{m['size'][1]}, {dris['encoder_input_px']} px encoder input: DRIS "
                f"{m['dris_calls']} encoder calls vs {m['uniform_calls']} for uniform native-resolution tiling "
                f"({m['ratio']}x); the deepest DRIS leaves hold {b['deepest_leaves']} buildings/Mpx vs {b['whole_scene']} "
                f"over the scene ({b['ratio']}x).", "",
                table(["scene", "size", "uniform calls", "DRIS calls (default budget)", "DRIS / uniform",
                       "DRIS calls (budget not binding)"], rows), "",
                "![DRIS tree](results/dris_joplin_tree.png)", ""]
    if thr:
        rows = []
        for name, r in thr["results"].items():
            rows.append([name, r["chips_256"]["images_per_s"], r["joplin_scene"]["views_per_s"],
                         r["caption_encoding"]["captions_per_s"]])
        out += ["## Indexing throughput (`benchmarks/throughput.py`, medians of "
                f"{thr['repeats']} runs)", "", table(["encoder", "chips: images/s", "Joplin: views/s", "captions/s"], rows), ""]
    if full:
        v = full["info"]["views"]
        out += [f"Whole RSICD/AID archive (`{full['command']}`): {full['wall_seconds']} s for "
                f"{full['info']['images']:,} images and {full['info']['captions']:,} captions "
                f"(views: global {v['global']:,}, region {v['region']:,}, object {v['object']:,}).", ""]
    if lat:
        real, syn, load = lat["real_index"], lat["synthetic_1m"], lat["load"]
        rows = [["archive, " + name, r["p50_ms"], r["p95_ms"], r["p99_ms"]] for name, r in real["latency"].items()
                if isinstance(r, dict)]
        rows += [["synthetic 1M views, " + name, r["p50_ms"], r["p95_ms"], r["p99_ms"]] for name, r in syn["latency"].items()
                 if isinstance(r, dict)]
        rec = syn["recall_at_10_vs_exact"]
        out += ["## Search latency at scale (`benchmarks/search_latency.py`)", "",
                f"The full archive ({real['images']:,} images) and a synthetic index of {syn['total_views']:,} clustered "
                f"384-d views ({syn['images']:,} images; kinds {syn['index_kinds']}); text encoding excluded.", "",
                table(["index, configuration", "p50 ms", "p95 ms", "p99 ms"], rows), "",
                "ANN recall@10 vs exact at 1M views: " + ", ".join(f"{k} {v}" for k, v in rec.items()) + ". "
                f"HTTP load ({load['clients']} clients, {load['requests']} requests, text encoding included): "
                f"{load['qps']} requests/s, p50 {load['latency_incl_text_encoding']['p50_ms']} ms, {load['errors']} errors.", ""]
        if before := load_before():
            b_real, b_syn = before["real_index"]["latency"], before["synthetic_1m"]["latency"]
            out += [f"Same-day baseline (`search_latency_before.json`, {before['baseline_note']}): fused p50 archive "
                    f"{b_real['fused']['p50_ms']} ms (now {ratio(real['latency']['fused']['p50_ms'], b_real['fused']['p50_ms'])}), "
                    f"synthetic 1M {b_syn['fused_ann']['p50_ms']} ms (now "
                    f"{ratio(syn['latency']['fused_ann']['p50_ms'], b_syn['fused_ann']['p50_ms'])}); its fused top-10 vs exact "
                    f"{before['synthetic_1m']['recall_at_10_vs_exact']['fused_top10_vs_exact']}.", ""]


def scaling_sections(eng: dict | None, st: dict | None, out: list[str]) -> None:
    """Local vs Ray indexing, and FAISS vs Milvus Lite as the store of one index."""
    if eng:
        m = eng["seconds_median"]
        out += ["## Indexing engines (`benchmarks/engines.py`)", "",
                f"`{eng['command']}` on {eng['input']}, {eng['cpus']} CPUs, median of {eng['repeats']} runs: local "
                f"{m['local']} s, Ray {m['ray']} s ({eng['ray_over_local']}x; {eng['note']}). Same index from both: "
                f"{eng['identical_index']}.", ""]
    if st:
        r, lat = st["recall"], st["latency"]
        out += ["## Vector stores (`benchmarks/stores.py`)", "",
                f"{st['index']}. FAISS: {st['stores']['faiss']}; Milvus Lite: {st['stores']['milvus_lite']} "
                f"(filled in {lat['fill_seconds']} s). {st['note']}.", "",
                "| | FAISS | Milvus Lite | Milvus / FAISS |", "|---|---|---|---|",
                f"| mR (t2i R@10) | {r['faiss']['mR']} ({r['faiss']['t2i']['R@10']}) | {r['milvus_lite']['mR']} "
                f"({r['milvus_lite']['t2i']['R@10']}) | recall identical: {st['recall_identical']} |"]
        for case in ("t2i_fused", "t2i_global_only", "i2i_fused"):
            c = lat[case]
            out.append(f"| {case} p50 / p95 ms (same top-10: {c['identical_top10']}) | {c['faiss']['p50_ms']} / "
                       f"{c['faiss']['p95_ms']} | {c['milvus_lite']['p50_ms']} / {c['milvus_lite']['p95_ms']} | "
                       f"{c['milvus_over_faiss_p50']}x |")
        out.append("")


def switch_section(sw: dict, out: list[str]) -> None:
    """Version switches under load (benchmarks/version_switch.py)."""
    lat = sw["latency_incl_text_encoding"]
    rows = [[s["version"], s["first_answer_after_publish_s"], s["requests_in_window"], s["max_ms_in_window"],
             s["max_over_run_p95"]] for s in sw["switches"]]
    out += ["## Version switches under load (`benchmarks/version_switch.py`)", "",
            f"{sw['what']}. {sw['requests']} requests, {sw['errors']} errors, p50 / p95 {lat['p50_ms']} / {lat['p95_ms']} ms; "
            f"responses not wholly from one version: {sw['responses_not_wholly_one_version']}; clients that saw an "
            f"older version after a newer one: {sw['clients_seeing_an_older_version_after_a_newer']}.", "",
            table(["new version", "first answer after publish (s)", "requests in the window", "max ms in the window",
                   "max / run p95"], rows), ""]


def main() -> int:
    rec, mini = load("recall_rsicd_aid150_test.json"), load("default_model_recall.json")
    tune, official = load("tune_fusion_rsicd_aid150_val.json"), load("recall_rsicd_official_test.json")
    cap, loc = load("caption_rsicd_test.json"), load("localise_joplin.json")
    sp, sp_scenes = load("speed_rsicd_test.json"), load("speed_scenes.json")
    shipped = shipped_model_id()

    def current(r: dict | None) -> dict | None:
        return r if is_current(r, shipped) else None

    def noted(out: list[str], result: dict, section) -> None:
        """Run one section writer, then put the stale-model line (if any) under its heading."""
        start = len(out)
        section()
        out[start + 2:start + 2] = stale_note(result, shipped)

    out: list[str] = ["# GeoSeek benchmarks", "",
                      "Generated by `benchmarks/summary.py` from `benchmarks/results/*.json`; regenerate everything with "
                      "`python benchmarks/run_all.py`. CPU only (2 cores, shared machine): compare configurations by "
                      "the ratios, measured in the same run; absolute times are noisy. Model: the shipped default "
                      f"(`{shipped}`, see its model card) unless a section says otherwise (the last table lists the "
                      "model of every results file). The baseline everywhere is what a user would otherwise "
                      "run: one global embedding per image in a flat FAISS index, same encoder.", ""]
    worse: list[str] = []
    missing = []
    out += headline(*map(current, (official, rec, cap, sp, sp_scenes, loc, load("scenes_nwpu_vhr10.json"),
                                   load("similar.json"))))
    if official:
        rsicd_official_section(official, json.loads((ROOT / "benchmarks" / "published_rsicd.json").read_text()), out, worse)
        orientations_section(load("orientations_rsicd_val.json"), out)
        loss_ablation_section(load("loss_ablation_rsicd.json"), out)
        for name, title in (("finetune_rsicd.json", "Fine-tunes of the shipped model"),
                            ("long_schedule_rsicd.json", "A longer schedule, not shipped: the v2 recipe over 45 epochs, "
                                                         "its best epoch and averages of its last epochs")):
            finetune_section(load(name), out, title, name)
        level_variants_section(load("level_variants_val.json"), out)
    else:
        missing.append("recall_rsicd_official_test.json")
    sc = load("scenes_nwpu_vhr10.json")
    if sc:
        scenes_section(sc, out, worse)
        cells_sections(load("box_rules_nwpu_vhr10.json"), load("late_search.json"), out)
    else:
        missing.append("scenes_nwpu_vhr10.json")
    sim = load("similar.json")
    if sim:
        similar_section(sim, out, worse)
    else:
        missing.append("similar.json")
    if rec:
        noted(out, rec, lambda: recall_section(rec, mini, tune, out, worse))
        if sp:
            out += ["![recall against cost](results/recall_vs_cost.png)", ""]
    else:
        missing.append("recall_rsicd_aid150_test.json")
    if cap:
        noted(out, cap, lambda: caption_section(cap, out, worse))
    else:
        missing.append("caption_rsicd_test.json")
    if loc:
        noted(out, loc, lambda: localise_section(loc, out, worse))
    else:
        missing.append("localise_joplin.json")
    if sp or sp_scenes:
        out += ["## Speed and memory (`geoseek bench speed`)", ""]
        for name, s in ((f"{chips_index_name(sp)} (chips)", sp),
                        (f"{sp_scenes['images'] if sp_scenes else 0} large scenes (Joplin post/pre, DOTA)", sp_scenes)):
            if s:
                noted(out, s, lambda: speed_section(name, s, out, worse))
    else:
        missing.append("speed_*.json")
    out += ["## Where fusion or GeoSeek's extras do not help", ""]
    out += [f"- {w}" for w in worse] or ["- (none found in these results)"]
    out.append("")
    other_sections(load("dris_joplin.json"), load("throughput.json"), load("full_index_rsicd_aid150.json"),
                   load("search_latency.json"), out)
    if s10 := load("scale_10m.json"):
        scale_10m_section(s10, load("scale_10m_tune.json"), out)
    scaling_sections(load("engines.json"), load("stores.json"), out)
    if sw := load("version_switch.json"):
        switch_section(sw, out)
    out += ["`search_example_rsicd.json`: one text query through the CLI and through a real server, with its hits.", ""]
    provenance_section(RESULTS, shipped, out)
    if missing:
        out += ["Missing (run the step in run_all.py): " + ", ".join(missing), ""]
    plots(rec, mini, loc, sp)
    README.write_text("\n".join(out))
    print(f"wrote {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
