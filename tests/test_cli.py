"""The `geoseek` console command, run as a user runs it (a real subprocess)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from tests.conftest import MINI
from tests.indexer.bad_inputs import make_bad_inputs

pytestmark = pytest.mark.slow  # starts servers or processes end to end (`pytest -m 'not slow'` skips it)

GEOSEEK = [sys.executable, "-m", "geoseek.cli"]


def run(*args, ok=True):
    proc = subprocess.run([*GEOSEEK, *map(str, args)], capture_output=True, text=True)
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_index_then_info_json_and_text(tmp_path, tiny_vit_config):
    bad = tmp_path / "bad"
    make_bad_inputs(bad)
    index = tmp_path / "ix"
    out = run("index", MINI / "captions.json", bad, "--index", index, "--model", tiny_vit_config,
              "--levels", "global,region,object", "--batch-size", "8", "--device", "cpu")
    assert "indexed 29 new image(s)" in out.stderr
    assert "skipped" in out.stderr and "empty file (0 bytes)" in out.stderr  # logged as it happens
    data = json.loads(run("info", "--index", index, "--json").stdout)
    assert data["images"] == 29 and data["captions"] == 145
    assert set(data["views"]) == {"global", "region", "object"} and data["views"]["global"] == 29
    assert "random-init" in data["model"]["id"]
    assert {s["path"].split("/")[-1] for s in data["skipped"]} >= {"empty.jpg", "bomb.png", "cmyk.jpg", "thirteen_band.tif"}
    assert all(s["reason"] for s in data["skipped"])
    assert sum(int(k) * v for k, v in data["views_per_image"].items()) == data["views"]["global"] + data["views"]["region"]
    text = run("info", "--index", index).stdout
    assert "views per image" in text and "images    29" in text and "cmyk.jpg" in text


def test_clear_errors_and_nonzero_exit(tmp_path, tiny_vit_config):
    (tmp_path / "dataset.json").write_text('{"images": [{"filepath": "../outside.jpg"}]}')
    p = run("index", tmp_path / "dataset.json", "--index", tmp_path / "ix", "--model", tiny_vit_config, ok=False)
    assert p.returncode == 2 and "outside the archive root" in p.stderr and "Traceback" not in p.stderr
    p = run("info", "--index", tmp_path / "nothing", ok=False)
    assert p.returncode == 2 and "no GeoSeek index" in p.stderr
    p = run("index", tmp_path, "--index", tmp_path / "ix", "--model", "hf-hub:bad", ok=False)
    assert p.returncode == 2 and "ORG/REPO" in p.stderr
    shutil.copy(MINI / "UCM" / sorted(x.name for x in (MINI / "UCM").iterdir())[0], tmp_path / "u.tif")
    p = run("index", tmp_path / "u.tif", "--index", tmp_path / "ix", "--model", tiny_vit_config, "--levels", "object", ok=False)
    assert p.returncode == 2 and "must include 'global'" in p.stderr


def test_bad_options_give_one_line_errors(tmp_path, tiny_vit_config):
    shutil.copy(MINI / "Sydney" / "1.tif", tmp_path / "s.tif")
    p = run("index", tmp_path / "s.tif", "--index", tmp_path / "ix", "--model", tiny_vit_config, "--dris-budget", "0", ok=False)
    assert p.returncode == 2 and "budget_per_tile" in p.stderr and "Traceback" not in p.stderr
    p = run("index", tmp_path / "s.tif", "--index", tmp_path / "ix", "--model", tiny_vit_config,
            "--catalog", "nosuchdb://x", ok=False)
    assert p.returncode == 2 and "Traceback" not in p.stderr and "error:" in p.stderr
    (tmp_path / "broken.pt").write_bytes(b"not a checkpoint")
    p = run("index", tmp_path / "s.tif", "--index", tmp_path / "ix", "--model", tmp_path / "broken.pt", ok=False)
    assert p.returncode == 2 and "cannot load model" in p.stderr and "Traceback" not in p.stderr
