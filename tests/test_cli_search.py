"""`geoseek search` messages a user meets: an index without captions, a bad date, an empty file."""
from __future__ import annotations

import shutil

from typer.testing import CliRunner

from geoseek.cli import app
from geoseek.indexer import run_index
from tests.conftest import RSICD


def test_messages_for_no_captions_bad_dates_and_empty_files(tmp_path, tiny_vit_config):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for name in ("beach_1.jpg", "beach_2.jpg"):
        shutil.copy(RSICD / "images" / "Beach" / name, folder / name)
    index = tmp_path / "ix"
    run_index([folder], index, model=str(tiny_vit_config), device="cpu", progress=False)
    base = ["--index", str(index), "--device", "cpu"]
    res = CliRunner().invoke(app, ["search", "image", str(folder / "beach_1.jpg"), "--target", "texts", *base])
    assert res.exit_code == 1 and "holds no captions" in res.output
    ok = CliRunner().invoke(app, ["search", "image", str(folder / "beach_1.jpg"), *base])
    assert ok.exit_code == 0 and "beach_2.jpg" in ok.output
    res = CliRunner().invoke(app, ["search", "text", "a beach", "--end", "2011-13-45", *base])
    assert res.exit_code == 2 and "--end '2011-13-45' is not a date: expected ISO 8601" in res.output
    assert "Invalid isoformat" not in res.output
    (tmp_path / "empty.png").write_bytes(b"")
    res = CliRunner().invoke(app, ["search", "image", str(tmp_path / "empty.png"), *base])
    assert res.exit_code == 2 and "empty file (0 bytes)" in res.output and "upload" not in res.output
