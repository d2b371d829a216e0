"""The MS-VLAM loss against the global-only loss at equal budget: one trained checkpoint per loss, each scored with
the commands the shipped model is scored with (standard own-image rule; weights chosen on val, test scored once).

    python benchmarks/loss_ablation.py --run LABEL MODEL HISTORY [--run ...] --built BUILT [--work DIR] [--out FILE]

Runs already in FILE under other labels are kept, so the two losses may be scored by separate invocations.

Per run: `geoseek index` RSICD val and test (the checkpoint's orientation count), `geoseek bench tune-fusion` on
val, `geoseek bench recall` on test global-only and with the val-tuned weights, then `geoseek bench scenes` on
NWPU VHR-10 (DRIS index) global-only and with the val-tuned text->image weights; the trainer's per-epoch val
history (HISTORY, the run's history.json) is copied in. MODEL is a model spec: `geoseek-default` for the shipped
checkpoint, or the path of a `geoseek train` run's best.pt.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_all import NWPU, RESULTS, built, fresh_index, geoseek, index_model, weights_spec  # noqa: E402

HISTORY_KEYS = ("epoch", "train_loss", "train_global", "train_region", "train_object", "val_mR", "seconds")


def score_run(label: str, spec: str, history: Path, dataset: Path, work: Path, orientations: int) -> dict:
    """One model's val tuning, RSICD test recall and NWPU scene retrieval (every index averaging ``orientations``
    per view), with its training history."""
    model = ["--model", spec, "--orientations", str(orientations)]
    val = fresh_index(work / f"{label}-val", dataset, "--split", "val", *model)
    tuned = json.loads(geoseek("bench", "tune-fusion", "--index", val, "--dataset", dataset, "--split", "val",
                               "--out", work / f"{label}-tune.json"))
    weights = weights_spec(tuned["chosen"]["weights"])
    test = fresh_index(work / f"{label}-test", dataset, "--split", "test", *model)
    base = ["bench", "recall", "--index", test, "--dataset", dataset, "--split", "test", "-q"]
    scenes_ix = fresh_index(work / f"{label}-nwpu-dris", NWPU / "images", *model)
    t2i = tuned["chosen"]["weights"].get("text_to_image", tuned["chosen"]["weights"])
    scenes = json.loads(geoseek("bench", "scenes", "--coco", NWPU / "annotations.json", "--images", NWPU / "images",
                                "--index", scenes_ix, "--label", "dris", "--configs", "global,global+region,global+object,fused",
                                "--weights", ",".join(str(t2i[k]) for k in ("global", "region", "object")), "-q"))
    epochs = json.loads(history.read_text())
    return {"model": index_model(test), "spec": spec, "orientations": orientations,
            "history": [{k: e[k] for k in HISTORY_KEYS if k in e} for e in epochs],
            "best_epoch": max(epochs, key=lambda e: e["val_mR"])["epoch"],
            "val": {"global_only": tuned["global_only"], "tuned": tuned["chosen"]},
            "test": {"global_only": json.loads(geoseek(*base, "--levels", "global")),
                     "fused_tuned": json.loads(geoseek(*base, "--weights", weights))},
            "scenes_nwpu_vhr10": scenes["summary"]["dris"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", nargs=3, action="append", required=True, metavar=("LABEL", "MODEL", "HISTORY"),
                    help="a model spec (geoseek-default, or a checkpoint path) and its run's history.json")
    ap.add_argument("--orientations", type=int, default=4, help="orientations per view in every index (the shipped count)")
    ap.add_argument("--built", type=Path, required=True, help="where build_rsicd.py wrote rsicd/")
    ap.add_argument("--work", type=Path, default=Path("/tmp/geoseek-ablation"))
    ap.add_argument("--out", type=Path, default=RESULTS / "loss_ablation_rsicd.json")
    args = ap.parse_args()
    dataset = built(args.built / "rsicd" / "dataset_rsicd.json", "build_rsicd.py")
    args.work.mkdir(parents=True, exist_ok=True)
    # Runs scored by an earlier invocation stay (each run is scored once; another run can be added later).
    out = json.loads(args.out.read_text()) if args.out.is_file() else {"runs": {}}
    out["dataset"] = "RSICD official split: trained on train, chosen on val, scored once on test (own-image rule)"
    for label, spec, hist in args.run:
        out["runs"][label] = score_run(label, spec, Path(hist), dataset, args.work, args.orientations)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
