"""The PNG plots of benchmarks/README.md, drawn from the results files (see summary.py)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
KS = ("R@1", "R@5", "R@10")
CONTROL_QUERIES = {"a road"}  # localisation: a query that should not favour buildings


def plots(rec: dict | None, mini: dict | None, loc: dict | None, sp: dict | None) -> None:
    if rec:
        keys = [k for k in ("global_only", "fused_tuned", "fused_tuned_refine") if k in rec]
        fig, ax = plt.subplots(figsize=(7, 3.6))
        width = 0.8 / len(keys)
        metrics = ["t2i R@1", "t2i R@5", "t2i R@10", "i2t R@1", "i2t R@5", "i2t R@10", "mR"]
        for i, k in enumerate(keys):
            r = rec[k]
            vals = [r["t2i"][m] for m in KS] + [r["i2t"][m] for m in KS] + [r["mR"]]
            ax.bar([x + i * width for x in range(len(metrics))], vals, width, label=k.replace("_", " "))
        ax.set_xticks([x + width * (len(keys) - 1) / 2 for x in range(len(metrics))], metrics)
        ax.set_ylabel("%"), ax.set_title("rsicd_aid150 test recall (smoke), default model"), ax.legend(fontsize=8)
        fig.tight_layout(), fig.savefig(RESULTS / "recall_per_config.png", dpi=110), plt.close(fig)
    if rec and sp:
        lat = sp["query"]["latency_excl_text_encoding"]
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        points = [("global-only flat (baseline)", "global_flat", rec["global_only"]["mR"]),
                  ("fused, val-tuned", "fused_flat", rec["fused_tuned"]["mR"]),
                  ("fused + refine", "fused_flat_refine", rec["fused_tuned_refine"]["mR"])]
        if mini:
            points.append(("fused, 0.5/0.3/0.2", "fused_flat", mini["rsicd_aid150_test"]["fused_default_weights"]["mR"]))
        for label, key, m in points:
            if key in lat:
                axes[0].scatter(lat[key]["p50_ms"], m, s=60, label=label)
        axes[0].set_xlabel("query p50 latency, ms (excl. text encoding)"), axes[0].set_ylabel("mR, %")
        axes[0].set_title("rsicd_aid150 test", fontsize=10), axes[0].legend(fontsize=7)
        if loc:
            targets = [q for q in next(iter(loc.values()))["queries"] if q not in CONTROL_QUERIES]
            for key, r in loc.items():
                calls = 1 + r["views"]["region"] + r.get("refine_encoder_calls", 0) / len(r["queries"])
                for lv in r["levels"]:
                    if r["refine"] and lv == "object":
                        continue  # objects are not refined: same point as refine off
                    cover = sum(r["queries"][q][lv]["cover"] for q in targets) / len(targets)
                    axes[1].scatter(calls, cover, s=60, marker="o" if lv == "region" else "^",
                                    label=f"{key.replace('_refine_', ', refine ')} · {lv}")
            axes[1].axhline(next(iter(loc.values()))["building_fraction"], color="grey", ls=":", lw=1, label="building share of scene")
            axes[1].set_xlabel("encoder calls for the scene (+ refine calls per query)")
            axes[1].set_ylabel("building share of top-20 boxes"), axes[1].legend(fontsize=6)
            axes[1].set_title("Joplin, building queries", fontsize=10)
        fig.suptitle("Quality against compute cost")
        fig.tight_layout(), fig.savefig(RESULTS / "recall_vs_cost.png", dpi=110), plt.close(fig)
    if loc:
        labels, overlap, chance = [], [], []
        targets = [q for q in next(iter(loc.values()))["queries"] if q not in CONTROL_QUERIES]
        for key, r in loc.items():
            for lv in r["levels"]:
                labels.append(f"{key.replace('_refine_', ' refine ')}\n{lv}")
                overlap.append(sum(r["queries"][q][lv]["cover"] for q in targets) / len(targets))
                chance.append(r["chance"][lv]["cover"])
        fig, ax = plt.subplots(figsize=(9, 3.6))
        xs = range(len(labels))
        ax.bar([x - 0.2 for x in xs], overlap, 0.4, label="top-hit cover, building queries")
        ax.bar([x + 0.2 for x in xs], chance, 0.4, label="chance (all views)")
        ax.set_xticks(list(xs), labels, fontsize=7), ax.set_ylabel("building share of hit box")
        ax.set_title("Joplin: how much of the top hits is building"), ax.legend(fontsize=8)
        fig.tight_layout(), fig.savefig(RESULTS / "localise_joplin.png", dpi=110), plt.close(fig)
