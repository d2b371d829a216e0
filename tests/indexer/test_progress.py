"""The indexing progress bar: it counts every input (skipped ones too) and log lines go above it, not onto it."""
from __future__ import annotations

import logging
import shutil
import sys

import numpy as np
from PIL import Image

from geoseek.indexer import run_index
from tests.indexer.bad_inputs import GOOD


def rendered(line: str) -> str:
    """What a terminal shows for one output line: a carriage return moves back to the start and overwrites."""
    cells: list[str] = []
    col = 0
    for ch in line:
        if ch == "\r":
            col = 0
            continue
        if col < len(cells):
            cells[col] = ch
        else:
            cells.append(ch)
        col += 1
    return "".join(cells).rstrip()


def write_inputs(folder) -> int:
    """Good tiny JPEGs and bad inputs of each stage (discovery, hashing, reading); returns the number of inputs."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a.jpg", "c.jpg", "e.jpg", "g.jpg"):
        Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(folder / name)
    shutil.copy(folder / "a.jpg", folder / "h_duplicate.jpg")  # skipped when hashing: same content as a.jpg
    (folder / "b_empty.jpg").write_bytes(b"")  # skipped while reading, between good images
    raw = GOOD.read_bytes()
    (folder / "d_truncated.jpg").write_bytes(raw[: len(raw) // 3])
    Image.new("RGB", (16, 16)).save(folder / "f.gif")  # skipped at discovery: unsupported format
    return 8


def test_the_bar_reaches_n_of_n_with_skips_and_warnings_go_above_it(tmp_path, tiny_vit_config, capsys):
    n = write_inputs(tmp_path / "src")
    handler = logging.StreamHandler(sys.stderr)  # the captured stderr, as the CLI's console handler
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.root.addHandler(handler)
    try:
        report = run_index([tmp_path / "src"], tmp_path / "ix", model=str(tiny_vit_config), device="cpu",
                           batch_size=1, progress=True)
    finally:
        logging.root.removeHandler(handler)
    err = capsys.readouterr().err
    assert report.new_images == 4 and len(report.skipped) == 4
    lines = [rendered(line) for line in err.split("\n")]
    bars = [line for line in lines if line.startswith("indexing:")]
    assert bars, err
    assert "100%" in bars[-1] and f"{n}/{n} " in bars[-1] and "skipped=4" in bars[-1], bars[-1]
    warnings = [line for line in lines if "skipped " in line and "WARNING" in line]
    assert {w.split("skipped ", 1)[1].split(":")[0].rsplit("/", 1)[-1] for w in warnings} == {"b_empty.jpg", "d_truncated.jpg"}
    for w in warnings:  # each on its own line, not glued to a bar
        assert w.startswith("WARNING geoseek.indexer.engines: skipped "), w
        assert "indexing:" not in w and "%|" not in w and "img/s" not in w, w


def test_without_progress_nothing_is_redirected_and_no_bar_is_drawn(tmp_path, tiny_vit_config, capsys):
    write_inputs(tmp_path / "src")
    before = list(logging.root.handlers)
    run_index([tmp_path / "src"], tmp_path / "ix", model=str(tiny_vit_config), device="cpu", progress=False)
    assert logging.root.handlers == before
    assert "indexing:" not in capsys.readouterr().err
