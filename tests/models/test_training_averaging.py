"""geoseek train --keep-epochs and geoseek average-checkpoints on a tiny model and real chips."""
from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from geoseek.cli import app
from geoseek.models import load_encoder
from geoseek.models.training import TrainConfig, Trainer
from geoseek.models.training.averaging import average_checkpoints, validate
from geoseek.schemas.errors import ModelSpecError
from tests.conftest import TINY_RN, make_split_archive


@pytest.fixture(scope="module")
def split_dataset(tmp_path_factory):
    """32 train / 16 val / 16 test real chips, shared by this module's tests (none writes to it)."""
    return make_split_archive(tmp_path_factory.mktemp("archive"))


@pytest.fixture(scope="module")
def kept_run(split_dataset, tiny_rn_config, tmp_path_factory):
    """A 3-epoch run keeping its last 2 epochs (trained once for the module; the tests only read it)."""
    out = tmp_path_factory.mktemp("kept") / "run"
    cfg = TrainConfig(dataset=str(split_dataset), model=str(tiny_rn_config), out=str(out), epochs=3, patience=99,
                      batch_size=8, lr=1e-3, device="cpu", keep_epochs=2)
    Trainer(cfg, progress=False).run()
    return out


def _state(path):
    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


def test_kept_epochs_are_the_last_n_and_their_average_is_the_mean(kept_run, split_dataset):
    kept = sorted((kept_run / "epochs").glob("*.pt"))
    assert [p.name for p in kept] == ["epoch_002.pt", "epoch_003.pt"]  # epoch 1 pruned
    last = _state(kept_run / "last.pt")
    third = _state(kept[1])
    assert all(torch.equal(third[k], last[k]) for k in last)  # the kept file is that epoch's weights
    a, b = _state(kept[0]), third
    moved = [k for k in a if a[k].is_floating_point() and not torch.equal(a[k], b[k])]
    assert moved  # the two epochs differ, so the mean is a third set of weights

    avg = average_checkpoints(kept)
    sd = avg["state_dict"]
    for k in moved:
        assert torch.allclose(sd[k].float(), (a[k] + b[k]) / 2, atol=2e-3, rtol=2e-3)
    weight = next(k for k in moved if k != "logit_scale")
    assert sd[weight].dtype == torch.float16 and sd["logit_scale"].dtype == torch.float32
    assert [s["epoch"] for s in avg["train"]["averaged_from"]] == [2, 3]


def test_the_cli_writes_a_model_spec_scored_by_the_trainers_metric(kept_run, split_dataset, tmp_path):
    kept = sorted((kept_run / "epochs").glob("*.pt"))
    out = tmp_path / "avg.pt"
    res = CliRunner().invoke(app, ["average-checkpoints", *map(str, kept), "--out", str(out),
                                   "--data", str(split_dataset), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    stored = torch.load(out, map_location="cpu", weights_only=True)["train"]["averaged_val"]
    assert stored["split"] == "val" and f"val mR {stored['mR']:.2f}" in res.output
    again = validate(out, split_dataset, "val", device="cpu")
    assert again["mR"] == pytest.approx(stored["mR"]) and again["match"]["rule"] == "image"
    # The same metric the trainer records: scoring an epoch's own file gives that epoch's history figure.
    history = json.loads((kept_run / "history.json").read_text())
    assert validate(kept[1], split_dataset, "val", device="cpu")["mR"] == pytest.approx(history[2]["val_mR"])
    enc = load_encoder(str(out), device="cpu")  # the average is a model spec
    assert enc.encode_texts(["a river"]).shape == (1, 32)


def test_what_cannot_be_averaged_is_refused(kept_run, tmp_path, split_dataset):
    kept = sorted((kept_run / "epochs").glob("*.pt"))
    with pytest.raises(ModelSpecError, match="at least two"):
        average_checkpoints(kept[:1])
    other = torch.load(kept[0], map_location="cpu", weights_only=False)
    other["model_cfg"] = {**TINY_RN, "vision_cfg": {**TINY_RN["vision_cfg"], "width": 16}}
    torch.save(other, tmp_path / "other.pt")
    with pytest.raises(ModelSpecError, match="another model config"):
        average_checkpoints([kept[0], tmp_path / "other.pt"])
    torch.save({"state_dict": {}}, tmp_path / "foreign.pt")
    with pytest.raises(ModelSpecError, match="not a checkpoint written by geoseek train"):
        average_checkpoints([kept[0], tmp_path / "foreign.pt"])
    before = kept[1].read_bytes()
    res = CliRunner().invoke(app, ["average-checkpoints", *map(str, kept), "--out", str(kept[1])])
    assert res.exit_code == 2 and "is one of the inputs" in res.output
    assert kept[1].read_bytes() == before  # an input is never overwritten
