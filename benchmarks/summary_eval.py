"""Sections of benchmarks/README.md for the evaluation benchmarks: the official RSICD recall table beside
published numbers, small objects in large scenes (bench scenes) and image->image similarity (bench similar)."""
from __future__ import annotations

from pathlib import Path

from summary_tables import RECALL_HEADER, recall_row, table, weights_str


def rsicd_official_section(rec: dict, published: dict, out: list[str], worse: list[str]) -> None:
    """The headline: the official RSICD test split under the standard rule, beside published numbers."""
    g, f, n = rec["global_only"], rec["fused_tuned"], rec["global_only"]["n_queries"]
    rows = [[m["method"], "yes" if m["large_vl_pretraining"] else "no", m["image_tower_init"], "published", m["mR"]]
            for m in published["methods"]]
    rows += [[f"GeoSeek default model, {label}", "no (text tower: all-MiniLM-L6-v2 sentence encoder)",
              "random init, trained here on RSICD train", "measured here", r["mR"]]
             for label, r in (("global-only", g), (f"fused {weights_str(f['weights'])} (tuned on RSICD val)", f))]
    sources = [f"{m['method']}: {m['image_tower_source']}" for m in published["methods"] if m["image_tower_source"]]
    rows.sort(key=lambda r: r[-1])
    lenient = rec.get("lenient_global_only")
    out += ["## RSICD, official test split (the headline)", "",
            f"{g['gallery_images']:,} test images, {n['t2i']:,} text->image and {n['i2t']:,} image->text queries, "
            f"scored by the {g['match']['description']} (`geoseek bench recall`, the rule of the RemoteCLIP, GeoRSCLIP, "
            "AMFMN and GaLR evaluation code). The index is built from `dataset_rsicd.json` exactly as "
            f"`../shared/tools/build_rsicd.py` writes it (`{rec['index_command']}`, {rec['index_seconds']} s). "
            f"Published figures: {published['source']}. Regenerate: `python benchmarks/run_all.py --only rsicd` "
            "(results/recall_rsicd_official_test.json, results/tune_fusion_rsicd_official_val.json).", "",
            table(["method", "large vision-language pretraining?", "image tower starts from", "", "mR"], rows), "",
            f"{published['image_tower_note']} " + "; ".join(sources) + ".", "",
            table(RECALL_HEADER, [recall_row("global-only", g), recall_row("fused, weights tuned on RSICD val", f)]
                  + ([recall_row("LENIENT rule, global-only (not comparable)", lenient)] if lenient else [])), ""]
    if lenient:
        out += [f"The lenient same-string rule (`--match caption`) would report mR {lenient['mR']:.2f} instead of "
                f"{g['mR']:.2f} for the same vectors; it is shown only to size the difference.", ""]
    if f["mR"] <= g["mR"]:
        worse.append(f"RSICD official test: fused mR {f['mR']:.2f} vs global-only {g['mR']:.2f} (no gain from fusion).")
    beaten = [m["method"] for m in published["methods"] if not m["large_vl_pretraining"] and m["mR"] > max(g["mR"], f["mR"])]
    if beaten:
        worse.append("RSICD official test: the default model is below the published non-pretrained "
                      + ", ".join(beaten) + ".")


def orientations_section(ori: dict | None, out: list[str]) -> None:
    """How many orientations each view averages (run_all step ``orientations``): RSICD val per count."""
    if not ori:
        return
    rows = [[r["orientations"], f"{r['global_only_mR']:.2f}", f"{r['tuned']['mR']:.2f}", weights_str(r["tuned"]["weights"]),
             f"{r['index_seconds']:.1f}"] for r in ori["rows"]]
    out += ["### Orientations averaged per view (results/orientations_rsicd_val.json)", "",
            f"{ori['dataset']}, {ori['model']} model; per count: `{ori['command']}`. The index time includes "
            "starting the CLI and loading the model.", "",
            table(["orientations", "val mR, global-only", "val mR, tuned fusion", "tuned weights", "index s (1,094 images)"],
                  rows), ""]


def scenes_section(sc: dict, out: list[str], worse: list[str]) -> None:
    """Small objects in large scenes (``geoseek bench scenes``): scene mAP and box localisation per configuration."""
    ds = sc["dataset"]
    rows, loc_rows = [], []
    for label, runs in sc["summary"].items():
        ix = sc["indexes"][label]
        for name, r in runs.items():
            w = ix["configs"][name]["weights"]
            rows.append([label, name, weights_str(w), f"{r['mAP']:.4f}", f"{r['chance_mAP']:.4f}"])
            for lv, f in ix["configs"][name]["localisation"].items():
                if f.get("n") and lv != "finest":
                    ch = f["chance"]
                    loc_rows.append([label, name, lv, f["n"], f"{f['contains']:.3f} ({ch['contains']:.3f})",
                                     f"{f['area_share']:.3f}", f"{f['iou_mean']:.3f} ({ch['iou_mean']:.3f})",
                                     f"{f['iou_ge_50']:.3f} ({ch['iou_ge_50']:.3f})"])
        base = runs.get("global")
        for name, r in runs.items():
            if base and name != "global" and r["mAP"] <= base["mAP"]:
                worse.append(f"Scenes ({label} index): {name} mAP {r['mAP']:.4f} vs global-only {base['mAP']:.4f}.")
    first_label, first = next(iter(sc["indexes"].items()))
    cfgs = list(first["configs"])
    per_class = [[c, f"{ds['classes'][c]['scenes']}", *(f"{first['configs'][n]['AP'][c]['AP']:.3f}" for n in cfgs)]
                 for c in first["configs"][cfgs[0]]["AP"]]
    views = "; ".join(f"{lb}: " + ", ".join(f"{lv} {n:,}" for lv, n in ix["views"].items()) for lb, ix in sc["indexes"].items())
    secs = sc.get("index_seconds", {})
    out += ["## Small objects in large scenes (`geoseek bench scenes`, NWPU VHR-10)", "",
            f"{ds['scenes']} scenes, {ds['boxes']:,} COCO boxes, {len(ds['classes'])} classes. Each class is queried with "
            f"{len(next(iter(sc['phrases'].values())))} phrasings; a scene is relevant when it holds a box of that class; "
            + ("every query ranks the whole gallery. " if sc["ranking"]["whole_gallery"] else
               f"each query ranks its top {sc['ranking']['k']} ({sc['ranking']['unreturned']}). ")
            + "AP per class is torchmetrics' RetrievalMAP "
            "averaged over the phrasings, mAP the mean over classes; chance is the exact expected AP of a random ranking. "
            f"Views per index: {views}" + ("; indexing took " + ", ".join(f"{k} {v} s" for k, v in secs.items()) if secs else "")
            + f". Global-only scores the same on both indexes: {sc['sanity'].get('global_only_equal')}. Regenerate: "
            "`python benchmarks/run_all.py --only scenes` (results/scenes_nwpu_vhr10.json).", "",
            table(["index", "configuration", "weights g/r/o", "mAP", "chance mAP"], rows), "",
            f"AP per class on the {first_label} index:", "",
            table(["class", "scenes", *cfgs], per_class), "",
            f"Localisation of the relevant hits in each phrase's top {sc['top']}: the returned box of each level. "
            "'contains' = the box holds the centre of a ground-truth box of the queried class, 'area' = the box's share "
            "of the scene, IoU = the best IoU with a box of that class (torchvision `box_iou`). Chance in brackets: the "
            f"same boxes placed uniformly at random in the same scene ({sc['draws']} draws each). The global box is the "
            "whole scene, the trivial baseline.", "",
            table(["index", "configuration", "box level", "hits", "contains (chance)", "area", "IoU mean (chance)",
                   "IoU >= 0.5 (chance)"], loc_rows), ""]


def _class_sizes(r: dict) -> str:
    """'24-66' (or '150'): the range of class sizes in one bench-similar result (each image is one query)."""
    sizes = [c["n_queries"] for c in r["per_class"].values()]
    return f"{min(sizes)}-{max(sizes)}" if min(sizes) != max(sizes) else str(min(sizes))


def similar_section(sim: dict, out: list[str], worse: list[str]) -> None:
    """Image->image retrieval by class (``geoseek bench similar``), global-only vs fused."""
    rows = []
    names = {"rsicd_test": "RSICD official test", "resisc14_test": "NWPU-RESISC45 subset (14 classes), test"}
    for key, variants in sim.items():
        for variant, r in variants.items():
            for cfg in ("global", "fused"):
                if variant == "generic_weights" and cfg == "global":
                    continue  # the same global-only run as above
                o, c = r["overall"][cfg], r["configs"][cfg]
                rows.append([names.get(key, key), f"{r['gallery_images']:,} / {r['classes']}",
                             "global-only" if cfg == "global" else f"fused {weights_str(c['weights'])}",
                             o[f"mAP@{r['K']}"], o.get(f"mAP@{r['K']}_strict", "-"), o["P@10"], o["P@100"]])
            m = f"mAP@{r['K']}"
            g, f = r["overall"]["global"][m], r["overall"]["fused"][m]
            if f <= g:
                worse.append(f"Image->image ({names.get(key, key)}): fused {weights_str(r['configs']['fused']['weights'])} "
                             f"{m} {f:.2f} vs global-only {g:.2f}.")
    first = next(iter(next(iter(sim.values())).values()))
    out += ["## Image->image similarity by class (`geoseek bench similar`)", "",
            f"Rule: {first['definitions']['rule']}. "
            f"mAP@{first['K']}: {first['definitions']['mAP@K']}. mAP@{first['K']} strict: "
            f"{first['definitions'].get('mAP@K_strict', '-')}. P@n: {first['definitions']['P@n']}. "
            + "".join(f"{names.get(key, key)}: {_class_sizes(next(iter(v.values())))} images per class. "
                      for key, v in sim.items())
            + "P@100 is capped below 100 where a class has fewer than 101 images. Regenerate: "
            "`python benchmarks/run_all.py --only rsicd similar` (results/similar.json).", "",
            table(["gallery", "images / classes", "configuration", f"mAP@{first['K']}", f"mAP@{first['K']} strict",
                   "P@10", "P@100"], rows), ""]


def box_rules_section(br: dict, out: list[str]) -> None:
    """How the object box of a hit on a cells index is chosen (benchmarks/box_rules.py): every rule, both halves."""
    rows = [[name, *(f"{r[p]['contains']:.3f} ({r[p]['chance_contains']:.3f}) at {r[p]['area_share']:.3f}"
                     for p in ("select", "check", "all"))] for name, r in br["rules"].items()]
    n = {p: br["rules"][br["implemented"]][p]["n"] for p in ("select", "check")}
    out += ["### The object box: which rule (`benchmarks/box_rules.py`, results/box_rules_nwpu_vhr10.json)", "",
            f"The same ranking (the index's weights {weights_str(br['weights'])}), the relevant top-{br['top']} hits, "
            f"each rule's box. Scenes split by {br['split']} ({n['select']} / {n['check']} hits). Chosen on select: "
            f"the most boxes holding an object of the class at a mean area of at most {br['area_max']:.0%} of the "
            f"scene: `{br['chosen_on_select']}`; search implements `{br['implemented']}` (the engine's boxes equal "
            f"it in {br['engine_boxes_equal_implemented']} hits). Cells: contains (chance) at mean area share.", "",
            table(["rule", "select", "check", "all"], rows), ""]


def late_search_section(ls: dict, out: list[str]) -> None:
    """Query cost on cells indexes, the two candidate-search rules back to back (benchmarks/late_search.py)."""
    rows = []
    for ix in ls["indexes"]:
        name = Path(ix["index"]).name
        for kind in ("text", "image"):
            lat, ag = ix["latency"], ix["agreement"][kind]
            rows.append([name, f"{kind} -> image", ag["queries"], *(f"{lat[f'{kind}/{c}/{r}']['p50_ms']:.1f} / "
                                                                  f"{lat[f'{kind}/{c}/{r}']['p95_ms']:.1f}"
                                                                  for c, r in (("global", "shared"), ("fused", "per_vector"),
                                                                               ("fused", "shared"))),
                         f"{lat[f'{kind}/fused/shared_over_per_vector']:.2f}x", f"{ag['top10_overlap']:.3f}"])
    enc = ls["indexes"][0]["text_encoding"]
    out += ["### Query cost on cells indexes (`benchmarks/late_search.py`, results/late_search.json)", "",
            f"k = 10, the scene benchmark's class phrases as text queries and indexed images as image queries; {ls['machine']}. "
            f"Rules: per_vector = {ls['rules']['per_vector']}; shared = {ls['rules']['shared']}. Text encoding per query "
            f"(not in the latencies): one pass of the text tower {enc['one_pass']['p50_ms']:.1f} ms p50, two passes (before) "
            f"{enc['two_passes']['p50_ms']:.1f} ms.", "",
            table(["index", "query", "queries", "global-only p50 / p95 ms", "fused, per_vector", "fused, shared",
                   "shared / per_vector (p50)", "top-10 overlap"], rows), ""]


def cells_sections(box_rules: dict | None, late: dict | None, out: list[str]) -> None:
    """The sections about indexes of grid cells that follow the scene benchmark, for the results that exist."""
    if box_rules:
        box_rules_section(box_rules, out)
    if late:
        late_search_section(late, out)


def _at_epochs(history: list[dict], epochs: list[int]) -> list[str]:
    """The trainer's val mR at each of ``epochs`` ('-' where the run has no such epoch)."""
    by_epoch = {e["epoch"]: e["val_mR"] for e in history}
    return [f"{by_epoch[n]:.2f}" if n in by_epoch else "-" for n in epochs]


def loss_ablation_section(ab: dict | None, out: list[str]) -> None:
    """The MS-VLAM loss against the global-only loss (benchmarks/loss_ablation.py): one trained run per loss, each
    scored with the shipped model's commands."""
    if not ab or not ab.get("runs"):
        return
    rows, curves = [], []
    longest = max(len(r["history"]) for r in ab["runs"].values())
    marks = sorted({1, *range(5, longest + 1, 5), longest})
    for label, r in ab["runs"].items():
        v, t, sc = r["val"], r["test"], r["scenes_nwpu_vhr10"]
        g, f = sc["global"]["mAP"], sc["fused"]["mAP"]
        best = max(r["history"], key=lambda e: e["val_mR"])
        rows.append([label, f"`{r['model']}`", f"{len(r['history'])} ({r['best_epoch']})", f"{best['val_mR']:.2f}",
                     f"{v['global_only']['mR']:.2f} / {v['tuned']['mR']:.2f}",
                     f"{t['global_only']['mR']:.2f} / {t['fused_tuned']['mR']:.2f}",
                     f"{g:.3f} / {f:.3f} ({f / g:.2f}x)",
                     f"{sc['fused']['contains']:.3f} ({sc['fused']['chance_contains']:.3f}) at {sc['fused']['area_share']:.3f}"])
        curves.append([label, *_at_epochs(r["history"], marks)])
    out += ["### The MS-VLAM loss against the global-only loss (`benchmarks/loss_ablation.py`, "
            "results/loss_ablation_rsicd.json)", "",
            f"{ab['dataset']}. The same recipe, seed and epoch budget; only the loss weights differ. Each run's best "
            "epoch (trainer val mR) is indexed with the shipped orientation count, its fusion weights are tuned on val "
            "(`geoseek bench tune-fusion`), then RSICD test and the NWPU VHR-10 DRIS scenes are scored once.", "",
            table(["run", "model", "epochs (best)", "trainer val mR", "val mR global-only / tuned",
                   "test mR global-only / fused", "scene mAP global-only / fused", "boxes with the class (chance) at area"],
                  rows), "",
            "Trainer val mR (global vector, one orientation) by epoch:", "",
            table(["run", *(f"epoch {n}" for n in marks)], curves), ""]


def _t2i_mean(rec: dict) -> float:
    """Mean text->image recall (R@1, R@5, R@10) of a `bench recall` result: on val mosaics, scene retrieval."""
    return sum(rec["t2i"].values()) / len(rec["t2i"])


def finetune_section(ft: dict | None, out: list[str],
                     title: str = "Fine-tunes of the shipped model", file: str = "finetune_rsicd.json") -> None:
    """Runs beside the shipped model (benchmarks/loss_ablation.py --mosaics, written to ``file``): val on RSICD chips
    and on large val scenes made of RSICD val chips (mosaic_scenes.py), then, where scored, RSICD test and NWPU
    VHR-10. ``title`` heads the section."""
    if not ft or not ft.get("runs"):
        return
    rows = []
    for label, r in ft["runs"].items():
        v, m = r["val"], r["val"].get("mosaic_scenes")
        row = [label, f"`{r['model']}`", f"{len(r['history'])} ({r['best_epoch']})",
               f"{v['global_only']['mR']:.2f} / {v['tuned']['mR']:.2f}"]
        if m:
            g, f = _t2i_mean(m["global_only"]), _t2i_mean(m["fused_tuned"])
            row.append(f"{g:.2f} / {f:.2f} ({f / g:.2f}x)")
        else:
            row.append("-")
        if "test" in r:
            sc = r["scenes_nwpu_vhr10"]
            sg, sf = sc["global"]["mAP"], sc["fused"]["mAP"]
            row += [f"{r['test']['global_only']['mR']:.2f} / {r['test']['fused_tuned']['mR']:.2f}",
                    f"{sg:.3f} / {sf:.3f} ({sf / sg:.2f}x)"]
        else:
            row += ["not scored here", "not scored here"]
        rows.append(row)
    out += [f"### {title} (`benchmarks/loss_ablation.py --mosaics`, results/{file})",
            "", f"{ft['dataset']}. Val mosaics: `benchmarks/mosaic_scenes.py` (RSICD val chips, 3x3 per 672 px scene; a "
            "tile's caption is a query whose only correct scene is the one holding it), indexed like any archive (DRIS) "
            "and scored with the weights tuned on RSICD val chips. Runs are compared on val; test and NWPU VHR-10 are "
            "scored once, for the runs shown with them (the shipped model's are the headline's and the loss ablation's above).",
            "",
            table(["run", "model", "epochs (best)", "RSICD val mR global-only / tuned",
                   "val mosaics: scene recall global-only / fused", "RSICD test mR global-only / fused",
                   "NWPU VHR-10 scene mAP global-only / fused"], rows), ""]


VARIANT_NAMES = {"as_indexed": "as indexed and searched (region: DRIS views; object: FILIP over all cells)",
                 "object_per_view": "object: FILIP within each view, best view",
                 "region_cell_windows": "region: best 3x3-cell window of the stored cells",
                 "region_max_of_both": "region: the better of DRIS views and cell windows"}


def level_variants_section(lv: dict | None, out: list[str]) -> None:
    """Other ways to score the region and object levels (benchmarks/level_variants.py), on val splits only:
    text->image mean R@1/5/10 at the shipped weights and at the best grid weights, per val set."""
    if not lv:
        return
    sets = list(lv)
    names = list(lv[sets[0]]["variants"])
    rows = []
    for name in names:
        label = VARIANT_NAMES.get(name) or (f"region and object minus {name.rsplit('_', 1)[1]} x ln(views)"
                                            if name.startswith("view_penalty_") else name)
        row = [label]
        for s in sets:
            v = lv[s]["variants"].get(name)
            best = weights_str(dict(zip(("global", "region", "object"), v["best_weights"]))) if v else ""
            at_index = "-" if not v or v["shipped"] is None else f"{v['shipped']:.2f}"  # index weights off the grid: -
            row.append(f"{at_index} / {v['best']:.2f} ({best})" if v else "-")
        rows.append(row)
    header = ["scoring"] + [f"{s}: {lv[s]['images']:,} images, {lv[s]['queries']:,} queries; views per image "
                            f"{', '.join(lv[s]['views_per_image'])}; global-only {lv[s]['variants'][names[0]]['global_only']:.2f}"
                            for s in sets]
    out += ["### Other ways to score the region and object levels (`benchmarks/level_variants.py`, results/level_variants_val.json)",
            "", "Val splits only, model of each set as recorded in the file. Text->image mean R@1/5/10 by the own-image rule, "
            "at the shipped text->image weights / at the best weights of the 0.1 grid (those weights). Every variant "
            "re-scores what the index stores; the first row is what search does. On an image with one view the region score "
            "is the global score, so weights that differ only in their global/region split tie there (the first in grid "
            "order is shown).", "", table(header, rows), ""]
