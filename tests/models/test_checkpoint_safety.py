"""Checkpoint paths come from the user: loading one never runs code from the file (weights_only + allow-list)."""
from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest
import torch

from geoseek.bench.fusion import check_checkpoint, set_checkpoint_fusion
from geoseek.models import ModelSpecError, load_encoder, load_model
from geoseek.models.checkpoints import SAFE_GLOBALS, load_checkpoint
from geoseek.models.factory import default_weights_path, model_config_for
from geoseek.models.training import TrainConfig, Trainer
from geoseek.models.training.checkpoint import load_training_state
from geoseek.schemas import FusionWeights, LevelWeights


class _RunsCode:
    """Unpickling this calls os.system: what a booby-trapped downloaded checkpoint would carry."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


def _malicious(path: Path, marker: Path) -> Path:
    """A file shaped like a geoseek checkpoint, with a code-running object inside."""
    torch.save({"format": "geoseek-checkpoint/1", "model_cfg": {}, "state_dict": {}, "optimizer": {},
                "train": {"payload": _RunsCode(marker)}}, path)
    return path


def test_the_payload_is_live_under_full_unpickling(tmp_path):
    # Guards the test below: the file really runs code when unpickled the old way.
    marker = tmp_path / "ran"
    path = _malicious(tmp_path / "evil.pt", marker)
    torch.load(path, map_location="cpu", weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("entry", ["load_encoder", "model_config_for", "load_training_state", "check_checkpoint",
                                   "arch:pretrained"])
def test_a_code_running_checkpoint_is_refused_without_running(entry, tmp_path, tiny_rn_config):
    marker = tmp_path / "ran"
    path = _malicious(tmp_path / "evil.pt", marker)
    with pytest.raises(ValueError) as err:
        if entry == "load_encoder":
            load_encoder(str(path), device="cpu")
        elif entry == "model_config_for":
            model_config_for(str(path))
        elif entry == "load_training_state":
            load_training_state(path)
        elif entry == "check_checkpoint":
            check_checkpoint(path)
        else:  # ARCH:PRETRAINED goes through open_clip's loader, which also uses weights_only
            load_model(f"{tiny_rn_config}:{path}")
    assert isinstance(err.value, ModelSpecError)
    msg = str(err.value)
    assert "\n" not in msg
    if entry == "arch:pretrained":
        assert "UnpicklingError" in msg
    else:
        # load_encoder names the spec it could not load in front: "cannot load model '<spec>': <path>: ..."
        assert msg.endswith(f"{path}: the file contains objects GeoSeek will not unpickle ('{os.system.__module__}.system'); "
                       "only checkpoints written by GeoSeek are accepted")
        assert msg.startswith(f"cannot load model '{path}': ") == (entry == "load_encoder")
    assert not marker.exists()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
def test_a_pickle_weights_only_cannot_parse_is_not_a_readable_checkpoint(tmp_path):
    import pickle

    marker = tmp_path / "ran"
    path = tmp_path / "raw.pt"
    path.write_bytes(pickle.dumps({"x": _RunsCode(marker)}, protocol=4))  # plain pickle, not torch.save
    with pytest.raises(ModelSpecError, match=r"raw\.pt: not a readable checkpoint \(.+\); only checkpoints written by GeoSeek"):
        load_checkpoint(path)
    assert not marker.exists()


def test_a_foreign_global_is_named(tmp_path):
    path = tmp_path / "paths.pt"
    torch.save({"model_cfg": {}, "state_dict": {}, "out": Path("/tmp")}, path)
    with pytest.raises(ModelSpecError, match=r"'pathlib\.\w*Path'.*only checkpoints written by GeoSeek"):
        load_checkpoint(path)


def test_a_trained_checkpoint_needs_no_allow_list_and_rebuilds_the_same_model(split_dataset, tiny_rn_config, tmp_path):
    out = tmp_path / "run"
    cfg = TrainConfig(dataset=str(split_dataset), model=str(tiny_rn_config), out=str(out), epochs=1, batch_size=8,
                      device="cpu")
    trainer = Trainer(cfg, progress=False)
    trainer.run()
    for name in ("last.pt", "best.pt"):  # written by the trainer's own save path
        assert torch.serialization.get_unsafe_globals_in_checkpoint(out / name) == []
    x = torch.Generator().manual_seed(0)
    pixels = torch.rand(4, 3, 64, 64, generator=x)
    trainer.model.eval()
    with torch.no_grad():
        want = trainer.model.encode_image(pixels)
        enc = load_encoder(str(out / "last.pt"), device="cpu")  # full precision: the same numbers exactly
        assert torch.equal(enc.model.encode_image(pixels), want)
        half = load_encoder(str(out / "best.pt"), device="cpu")  # stored in fp16
        assert torch.allclose(half.model.encode_image(pixels), want, atol=5e-2, rtol=5e-2)
    assert model_config_for(str(out / "best.pt")) == trainer.model_cfg
    state = load_training_state(out / "last.pt")  # what --resume reads
    assert state["train"]["epoch"] == 0 and type(state["train"]["torch"]) is str
    before = load_model(str(out / "best.pt"))
    assert (before.recommended_fusion, before.recommended_orientations) == (None, 1)
    # Reads and rewrites it: the weights with the orientation count of the index they were tuned on.
    weights = FusionWeights(text_to_image=LevelWeights.of(0.5, 0.25, 0.25), image_to_text=LevelWeights.of(1, 0, 0),
                            image_to_image=LevelWeights.of(0.5, 0.2, 0.3))
    set_checkpoint_fusion(out / "best.pt", weights, orientations=4)
    ckpt = load_checkpoint(out / "best.pt")
    assert ckpt["fusion"]["image_to_text"] == {"global": 1.0, "region": 0.0, "object": 0.0} and ckpt["orientations"] == 4
    after = load_model(str(out / "best.pt"))
    assert after.id == before.id and after.recommended_orientations == 4  # metadata, not the model's identity
    assert after.recommended_fusion == weights
    # A checkpoint from before directions holds one triple: it serves every direction.
    old = {**ckpt, "fusion": {"global": 0.6, "region": 0.1, "object": 0.3}}
    torch.save(old, out / "old.pt")
    assert load_model(str(out / "old.pt")).recommended_fusion == FusionWeights.same(LevelWeights.of(0.6, 0.1, 0.3))
    assert load_encoder(str(out / "best.pt"), device="cpu").orientations == 4  # what new indexes use ...
    assert load_encoder(str(out / "best.pt"), device="cpu", orientations=2).orientations == 2  # ... unless asked
    ckpt["orientations"] = 3
    torch.save(ckpt, out / "bad.pt")
    with pytest.raises(ModelSpecError, match="orientations must be one of 1, 2, 4, 8; got 3"):
        load_model(str(out / "bad.pt"))


def test_the_shipped_default_checkpoint_still_loads():
    path = default_weights_path()
    # A checkpoint written before the trainer stored the torch version as a plain str needs exactly the
    # allow-list's one entry; a newer one needs none. Either way nothing outside the allow-list.
    allowed = {f"{g.__module__}.{g.__qualname__}" for g in SAFE_GLOBALS}
    assert set(torch.serialization.get_unsafe_globals_in_checkpoint(path)) <= allowed
    assert [f"{g.__module__}.{g.__qualname__}" for g in SAFE_GLOBALS] == ["torch.torch_version.TorchVersion"]
    ckpt = load_checkpoint(path)
    assert {"model_cfg", "state_dict", "fusion"} <= set(ckpt) and ckpt["train"]["torch"].startswith("2.")
    # load_encoder("geoseek-default") on this file is exercised by tests/models/test_default_model.py.
    assert model_config_for(str(path)) == ckpt["model_cfg"]
