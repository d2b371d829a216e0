"""geoseek train on a tiny model and real chips: a step learns, a killed run resumes exactly."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from geoseek.metrics import dense_recall
from geoseek.models import load_encoder
from geoseek.models.training import TrainConfig, Trainer
from geoseek.models.training.augment import augment
from geoseek.models.training.checkpoint import save_atomic
from geoseek.models.text import caption_bank
from geoseek.schemas import MatchRule
from tests.conftest import make_split_archive, repeat_captions


def _cfg(dataset: Path, model: Path, out: Path, **kw) -> TrainConfig:
    base = dict(dataset=str(dataset), model=str(model), out=str(out), epochs=2, batch_size=8, lr=1e-3, device="cpu")
    return TrainConfig(**{**base, **kw})


def test_a_training_step_lowers_the_loss(split_dataset, tiny_rn_config, tmp_path):
    trainer = Trainer(_cfg(split_dataset, tiny_rn_config, tmp_path / "run"), progress=False)
    rows = torch.arange(8)
    # The same batch, identically augmented: each step reports the loss before its update.
    losses = [trainer.step(rows, torch.Generator().manual_seed(7))["loss"] for _ in range(3)]
    assert losses[1] < losses[0] and losses[2] < losses[1]


def test_augment_is_seeded_and_keeps_shape(split_dataset, tiny_rn_config, tmp_path):
    trainer = Trainer(_cfg(split_dataset, tiny_rn_config, tmp_path / "run"), progress=False)
    px = trainer.train.pixels[:6]
    a = augment(px, torch.Generator().manual_seed(3))
    b = augment(px, torch.Generator().manual_seed(3))
    c = augment(px, torch.Generator().manual_seed(4))
    assert a.shape == (6, 3, 64, 64) and torch.equal(a, b) and not torch.equal(a, c)


def test_validation_and_checkpoint_choice_use_the_own_image_rule(tmp_path, tiny_rn_config):
    dataset = repeat_captions(make_split_archive(tmp_path / "archive"), "val", n=8)  # 8 of 16 val images share a string
    trainer = Trainer(_cfg(dataset, tiny_rn_config, tmp_path / "run", epochs=1), progress=False)
    val = trainer.evaluate()
    with torch.no_grad():
        x = augment(trainer.val.pixels, torch.Generator(), enabled=False)
        vecs = torch.nn.functional.normalize(trainer.model.encode_image(x).float(), dim=-1).numpy()
    texts = trainer.val_bank[0].float().numpy()
    std = dense_recall(vecs, texts, trainer.val.caption_ids, match=MatchRule.IMAGE)
    lenient = dense_recall(vecs, texts, trainer.val.caption_ids, match=MatchRule.CAPTION)
    assert val["match"]["rule"] == "image" and val["t2i"] == pytest.approx(std["t2i"], abs=1e-6)
    assert lenient["t2i"]["R@5"] + lenient["t2i"]["R@10"] > std["t2i"]["R@5"] + std["t2i"]["R@10"]  # the rules differ here
    # The epoch's recorded val mR, which picks best.pt, is the standard figure.
    trainer.run()
    row = json.loads((tmp_path / "run" / "history.json").read_text())[0]
    again = trainer.evaluate()
    assert row["val_mR"] == pytest.approx(again["mR"]) and again["match"]["rule"] == "image"


def test_a_resumed_run_from_before_the_own_image_rule_forgets_its_lenient_best(split_dataset, tiny_rn_config, tmp_path):
    out = tmp_path / "run"
    Trainer(_cfg(split_dataset, tiny_rn_config, out, epochs=1), progress=False).run()
    state = torch.load(out / "last.pt", map_location="cpu", weights_only=False)
    assert state["train"]["val_rule"] == "image"
    del state["train"]["val_rule"]  # as written before the rule was recorded
    state["train"]["best_mR"] = 99.0  # a lenient figure no standard epoch could beat
    save_atomic(state, out / "last.pt")
    resumed = Trainer(_cfg(split_dataset, tiny_rn_config, out, epochs=2), resume=True, progress=False)
    assert resumed.best_mr == -1.0 and resumed.bad_epochs == 0
    result = resumed.run()
    assert result.best_epoch == 2  # the first standard epoch after the resume is the new best, and best.pt follows it
    assert torch.load(out / "best.pt", map_location="cpu", weights_only=False)["train"]["epoch"] == 1  # 0-based


def test_run_writes_loadable_checkpoints_and_history(split_dataset, tiny_rn_config, tmp_path):
    result = Trainer(_cfg(split_dataset, tiny_rn_config, tmp_path / "run", epochs=2), progress=False).run()
    out = tmp_path / "run"
    history = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2] and result.epochs_run == 2
    assert all({"R@1", "R@5", "R@10"} <= set(h["val_t2i"]) for h in history)
    enc = load_encoder(str(out / "best.pt"), device="cpu")  # the checkpoint is a model spec
    assert enc.encode_texts(["a river"]).shape == (1, 32)
    with pytest.raises(FileExistsError, match="--resume"):
        Trainer(_cfg(split_dataset, tiny_rn_config, out), progress=False)  # never overwrite a run
    (out / "last.pt").unlink()
    with pytest.raises(FileExistsError, match="best.pt"):
        Trainer(_cfg(split_dataset, tiny_rn_config, out), progress=False)  # nor a lone best.pt
    with pytest.raises(ValueError, match="text tower"):
        Trainer(_cfg(split_dataset, tiny_rn_config, tmp_path / "other", lock_text=False), progress=False)


def test_locked_text_features_match_the_encoder(split_dataset, tiny_rn_config, tmp_path):
    trainer = Trainer(_cfg(split_dataset, tiny_rn_config, tmp_path / "run"), progress=False)
    bank = caption_bank(trainer.model, trainer.tokenizer, trainer.val.captions[:5], device=torch.device("cpu"))
    enc = load_encoder(str(tiny_rn_config), device="cpu")
    assert torch.allclose(bank[0].float(), torch.from_numpy(enc.encode_texts(trainer.val.captions[:5])), atol=2e-3)
    assert bank[2].any(dim=1).all()  # every caption keeps content tokens after stop-words


def _train_cmd(dataset: Path, model: Path, out: Path, epochs: int | None, *extra: str) -> list[str]:
    length = ["--epochs", str(epochs), "--patience", "99"] if epochs else []  # resume: the run's own
    return [sys.executable, "-m", "geoseek.cli", "train", "--data", str(dataset), "--model", str(model), "--out", str(out),
            *length, "--batch-size", "8", "--lr", "0.001", "--device", "cpu", "--quiet", *extra]


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


@pytest.mark.slow
def test_resume_after_kill_continues_from_the_checkpoint(split_dataset, tiny_rn_config, tmp_path):
    epochs = 6
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    full = tmp_path / "full"
    subprocess.run(_train_cmd(split_dataset, tiny_rn_config, full, epochs), check=True, env=env, capture_output=True)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_train_cmd(split_dataset, tiny_rn_config, killed, epochs), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (killed / "history.json").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL  # killed mid-run, not finished
    done = json.loads((killed / "history.json").read_text())
    assert 1 <= len(done) < epochs

    res = subprocess.run(_train_cmd(split_dataset, tiny_rn_config, killed, None, "--resume"), env=env,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    history = json.loads((killed / "history.json").read_text())
    assert [h["epoch"] for h in history] == list(range(1, epochs + 1))
    assert history[: len(done)] == done  # earlier epochs kept, not redone
    ref = json.loads((full / "history.json").read_text())
    assert [h["val_mR"] for h in history] == [h["val_mR"] for h in ref]
    a, b = _weights(killed / "last.pt"), _weights(full / "last.pt")
    assert a.keys() == b.keys() and all(torch.allclose(a[k].float(), b[k].float(), atol=1e-5) for k in a)


def test_train_reads_images_from_image_dir(tmp_path, tiny_rn_config, monkeypatch):
    """A dataset json kept apart from its images trains with --image-dir; without it, one clear error."""
    from typer.testing import CliRunner

    from geoseek.cli import app

    archive = tmp_path / "archive"
    dataset = make_split_archive(archive, n_train=8, n_val=8, n_test=0)
    moved = tmp_path / "annotations" / "captions.json"
    moved.parent.mkdir()
    dataset.rename(moved)  # the images stay under archive/, no longer next to the json
    monkeypatch.setattr("geoseek.cli.train.setup_logging", lambda verbose: None)  # leave this process's logging alone
    args = ["train", "--data", str(moved), "--model", str(tiny_rn_config), "--epochs", "1", "--batch-size", "8",
            "--device", "cpu", "--quiet"]
    bad = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "bad")])
    assert bad.exit_code == 2 and "--image-dir" in bad.output and "Traceback" not in bad.output
    ok = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "run"), "--image-dir", str(archive)])
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "run" / "best.pt").is_file()
    from geoseek.models.checkpoints import load_checkpoint

    saved = load_checkpoint(tmp_path / "run" / "last.pt")["train"]["config"]
    assert saved["image_dir"] == str(archive)
