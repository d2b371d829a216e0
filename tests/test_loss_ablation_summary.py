"""The loss ablation (benchmarks/loss_ablation.py): the committed results compare the two losses at an equal epoch
budget, and benchmarks/README.md renders every run of them."""
from __future__ import annotations

import json
import sys

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import summary_eval  # noqa: E402
import summary_provenance as prov  # noqa: E402

ABLATION = ROOT / "benchmarks" / "results" / "loss_ablation_rsicd.json"


def _committed() -> dict:
    return json.loads(ABLATION.read_text())


def test_the_committed_ablation_compares_both_losses_at_an_equal_epoch_budget():
    runs = _committed()["runs"]
    assert set(runs) == {"ms_vlam", "global_loss"}
    assert len({len(r["history"]) for r in runs.values()}) == 1, {k: len(r["history"]) for k, r in runs.items()}
    # The MS-VLAM run is the shipped model; the other one is a different checkpoint.
    shipped = prov.shipped_model_id()
    assert runs["ms_vlam"]["model"] == shipped and runs["global_loss"]["model"] != shipped
    for r in runs.values():  # the scored checkpoint is the run's best epoch by the trainer's val mR
        assert r["best_epoch"] == max(r["history"], key=lambda e: e["val_mR"])["epoch"]


def test_the_ablation_section_shows_every_run_and_its_epoch_curve():
    ab = _committed()
    out: list[str] = []
    summary_eval.loss_ablation_section(ab, out)
    text = "\n".join(out)
    for label, r in ab["runs"].items():
        rows = [line for line in text.splitlines() if line.startswith(f"| {label} |")]
        assert len(rows) == 2, label  # the scores row and the per-epoch row
        assert f"{r['test']['global_only']['mR']:.2f} / {r['test']['fused_tuned']['mR']:.2f}" in rows[0]
        assert rows[1].split("|")[2].strip() == f"{r['history'][0]['val_mR']:.2f}"  # epoch 1 comes first


def test_no_ablation_results_give_no_section():
    out: list[str] = []
    summary_eval.loss_ablation_section(None, out)
    summary_eval.loss_ablation_section({"runs": {}}, out)
    assert out == []


def _recall(r1: float, r5: float, r10: float) -> dict:
    return {"t2i": {"R@1": r1, "R@5": r5, "R@10": r10}, "mR": 0.0}


def test_the_finetune_section_shows_val_mosaics_and_marks_runs_not_scored_on_test():
    val = {"global_only": {"mR": 14.56}, "tuned": {"mR": 14.68}}
    scored = {"model": "geoseek-default@a", "history": [{"epoch": 1, "val_mR": 14.0}], "best_epoch": 1,
              "val": {**val, "mosaic_scenes": {"global_only": _recall(2.0, 8.0, 14.0), "fused_tuned": _recall(3.0, 15.0, 27.0)}},
              "test": {"global_only": {"mR": 16.45}, "fused_tuned": {"mR": 16.24}},
              "scenes_nwpu_vhr10": {"global": {"mAP": 0.4}, "fused": {"mAP": 0.5}}}
    val_only = {**scored, "model": "best.pt@b", "val": val}
    for key in ("test", "scenes_nwpu_vhr10"):
        val_only.pop(key)
    out: list[str] = []
    summary_eval.finetune_section({"dataset": "RSICD", "runs": {"v2": scored, "ft": val_only}}, out)
    rows = {line.split("|")[1].strip(): line for line in out[-2].splitlines() if line.startswith("| ")}
    assert "8.00 / 15.00 (1.88x)" in rows["v2"] and "16.45 / 16.24" in rows["v2"] and "0.400 / 0.500 (1.25x)" in rows["v2"]
    assert rows["ft"].count("not scored here") == 2 and "| - |" in rows["ft"]  # no mosaics, no test for this run
    assert out[0].startswith("### Fine-tunes of the shipped model") and "results/finetune_rsicd.json" in out[0]
    other: list[str] = []
    summary_eval.finetune_section({"dataset": "RSICD", "runs": {"long": val_only}}, other, "A longer schedule", "long.json")
    assert other[0].startswith("### A longer schedule (") and "results/long.json" in other[0]
    other_rows = {line.split("|")[1].strip(): line for line in other[-2].splitlines() if line.startswith("| ")}
    assert other_rows["long"].split("|")[2:] == rows["ft"].split("|")[2:]  # the same row under another heading
    empty: list[str] = []
    summary_eval.finetune_section(None, empty)
    assert empty == []
