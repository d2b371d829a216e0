"""Trained checkpoints side by side (the MS-VLAM loss against the global-only loss at equal budget; fine-tunes against
their start), each scored with the commands the shipped model is scored with (standard own-image rule; weights chosen
on val, test scored once).

    python benchmarks/loss_ablation.py --run LABEL MODEL HISTORY [--run ...] --built BUILT [--work DIR] [--out FILE]

Runs already in FILE under other labels are kept, so the two losses may be scored by separate invocations.

With --val-only, each run stops after its val figures (RSICD val, and val mosaics with --mosaics), so runs can be
compared and one chosen before any test split is scored; a later call without it reuses them and scores test.

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


def mosaic_scene_recall(label: str, model: list[str], mosaics: Path, work: Path, weights: str) -> dict:
    """Scene retrieval on val mosaics (benchmarks/mosaic_scenes.py; own-image rule: a tile's caption finds its scene),
    global-only and with the val-tuned ``weights``: the val figure for large scenes."""
    ix = fresh_index(work / f"{label}-mosaics", mosaics, "--split", "scenes", *model)
    base = ["bench", "recall", "--index", ix, "--dataset", mosaics, "--split", "scenes", "-q"]
    return {"global_only": json.loads(geoseek(*base, "--levels", "global")),
            "fused_tuned": json.loads(geoseek(*base, "--weights", weights))}


def score_val(label: str, spec: str, history: Path, dataset: Path, work: Path, orientations: int,
              mosaics: Path | None = None) -> dict:
    """One model's val figures: its training history, its index on RSICD val (``orientations`` per view) with
    tuned fusion weights, and with ``mosaics`` (a mosaic_scenes.py dataset.json) scene retrieval on val mosaics."""
    model = ["--model", spec, "--orientations", str(orientations)]
    val = fresh_index(work / f"{label}-val", dataset, "--split", "val", *model)
    tuned = json.loads(geoseek("bench", "tune-fusion", "--index", val, "--dataset", dataset, "--split", "val",
                               "--out", work / f"{label}-tune.json"))
    epochs = json.loads(history.read_text())
    epochs = epochs["history"] if isinstance(epochs, dict) else epochs  # a run's history.json, or a committed record of one
    out = {"model": index_model(val), "spec": spec, "orientations": orientations,
           "history": [{k: e[k] for k in HISTORY_KEYS if k in e} for e in epochs],
           "best_epoch": max(epochs, key=lambda e: e["val_mR"])["epoch"],
           "val": {"global_only": tuned["global_only"], "tuned": tuned["chosen"]}}
    if mosaics:
        out["val"]["mosaic_scenes"] = mosaic_scene_recall(label, model, mosaics, work,
                                                          weights_spec(tuned["chosen"]["weights"]))
    return out


def score_test(label: str, run: dict, dataset: Path, work: Path) -> dict:
    """RSICD test recall and NWPU VHR-10 scene retrieval (DRIS index), once, with the weights ``run`` (score_val's
    result) chose on val."""
    model = ["--model", run["spec"], "--orientations", str(run["orientations"])]
    chosen = run["val"]["tuned"]["weights"]
    weights = weights_spec(chosen)
    test = fresh_index(work / f"{label}-test", dataset, "--split", "test", *model)
    tested = index_model(test)
    if tested != run["model"]:  # before the NWPU index: a changed checkpoint stops the run early
        raise SystemExit(f"{label}: the test index has model {tested}, val was scored with {run['model']}")
    base = ["bench", "recall", "--index", test, "--dataset", dataset, "--split", "test", "-q"]
    scenes_ix = fresh_index(work / f"{label}-nwpu-dris", NWPU / "images", *model)
    t2i = chosen.get("text_to_image", chosen)
    scenes = json.loads(geoseek("bench", "scenes", "--coco", NWPU / "annotations.json", "--images", NWPU / "images",
                                "--index", scenes_ix, "--label", "dris", "--configs", "global,global+region,global+object,fused",
                                "--weights", ",".join(str(t2i[k]) for k in ("global", "region", "object")), "-q"))
    return {**run, "test": {"global_only": json.loads(geoseek(*base, "--levels", "global")),
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
    ap.add_argument("--mosaics", type=Path, help="also scene retrieval on val mosaics: mosaic_scenes.py's dataset.json")
    ap.add_argument("--val-only", action="store_true", help="stop after the val figures (choose before scoring test)")
    args = ap.parse_args()
    dataset = built(args.built / "rsicd" / "dataset_rsicd.json", "build_rsicd.py")
    args.work.mkdir(parents=True, exist_ok=True)
    # Runs scored by an earlier invocation stay (each run is scored once; another run can be added later).
    out = json.loads(args.out.read_text()) if args.out.is_file() else {"runs": {}}
    out["dataset"] = "RSICD official split: trained on train, chosen on val, scored once on test (own-image rule)"
    for label, spec, hist in args.run:
        kept = out["runs"].get(label, {})
        if kept.get("spec") == spec and "val" in kept and (not args.mosaics or "mosaic_scenes" in kept["val"]):
            run = kept  # scored on val by an earlier --val-only call: test uses the weights chosen then
        else:
            run = score_val(label, spec, Path(hist), dataset, args.work, args.orientations, args.mosaics)
        out["runs"][label] = run if args.val_only else score_test(label, run, dataset, args.work)
        args.out.write_text(json.dumps(out, indent=2) + "\n")  # after each run: a later failure keeps it
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
