"""Shared fixtures: real data under ../shared/data, tiny open_clip models built from JSON configs."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs two workers on two cores: one OpenMP thread each (FAISS, torch; inherited by the
    # servers and CLIs the tests start), waiting passively, so neither spins on cores the other needs.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = (ROOT.parent / "shared" / "data").resolve()
RSICD = DATA / "rsicd_aid150"
MINI = DATA / "rs_caption_mini"
JOPLIN = DATA / "joplin_xview2"

TINY_VIT = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1},
}
TINY_RN = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": [1, 1, 1, 1], "width": 8, "head_width": 32},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1},
}


def pytest_configure(config):
    if not DATA.is_dir():
        raise pytest.UsageError(f"the shared data folder {DATA} is missing; tests run on real data")


@pytest.fixture(scope="session")
def tiny_vit_config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("models") / "tiny-vit.json"
    path.write_text(json.dumps(TINY_VIT))
    return path


@pytest.fixture(scope="session")
def tiny_rn_config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("models") / "tiny-rn.json"
    path.write_text(json.dumps(TINY_RN))
    return path


def rsicd_images(n: int, split: str | None = None) -> list[dict]:
    """The first ``n`` entries of the real RSICD/AID dataset.json (optionally of one split), spread over classes."""
    data = json.loads((RSICD / "dataset_rsicd_aid150.json").read_text())
    entries = [e for e in data["images"] if split is None or e["split"] == split]
    step = max(1, len(entries) // n)
    return entries[::step][:n]


def write_chip_archive(root: Path, n: int, name: str = "chips") -> list[dict]:
    """Copy ``n`` real RSICD/AID chips under ``root`` with a ``root/dataset.json`` naming them; returns their entries."""
    entries = rsicd_images(n)
    for e in entries:
        dst = root / e["filepath"]
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(RSICD / e["filepath"], dst)
    (root / "dataset.json").write_text(json.dumps({"dataset": name, "images": entries}))
    return entries


@pytest.fixture()
def small_archive(tmp_path) -> Path:
    """A real mini archive: 24 RSICD/AID chips with a dataset.json, as the user would have it."""
    root = tmp_path / "archive"
    write_chip_archive(root, 24, "mini")
    return root


def make_split_archive(root: Path, n_train: int = 32, n_val: int = 16, n_test: int = 16) -> Path:
    """Copy real chips into ``root`` and write a dataset.json that assigns them train/val/test."""
    entries = rsicd_images(n_train + n_val + n_test)
    splits = ["train"] * n_train + ["val"] * n_val + ["test"] * n_test
    out = []
    for e, split in zip(entries, splits):
        dst = root / e["filepath"]
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(RSICD / e["filepath"], dst)
        out.append({**e, "split": split})
    path = root / "dataset.json"
    path.write_text(json.dumps({"dataset": "mini", "images": out}))
    return path


SHARED_CAPTION = "many buildings and green trees are in a dense residential area ."


def repeat_captions(dataset: Path, split: str, n: int = 8, text: str = SHARED_CAPTION) -> Path:
    """Give the first ``n`` images of ``split`` the same first caption, as RSICD repeats captions across images."""
    data = json.loads(dataset.read_text())
    chosen = [e for e in data["images"] if e["split"] == split][:n]
    for e in chosen:
        e["sentences"] = [{**e["sentences"][0], "raw": text}] + e["sentences"][1:]
    dataset.write_text(json.dumps(data))
    return dataset


@pytest.fixture()
def split_dataset(tmp_path) -> Path:
    """dataset.json of 32 train / 16 val / 16 test real chips (classes spread over the splits)."""
    return make_split_archive(tmp_path / "archive")
