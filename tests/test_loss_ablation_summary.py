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
