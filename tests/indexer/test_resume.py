"""Kill-and-resume: a `geoseek index` process killed with SIGKILL mid-run, then resumed."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq

from geoseek.index.catalog import Catalog
from geoseek.index.layout import IndexDir
from geoseek.index.info import index_info


def _cmd(src, index, spec):
    return [sys.executable, "-m", "geoseek.cli", "index", str(src), "--index", str(index), "--model", str(spec),
            "--shard-size", "4", "--batch-size", "4", "--device", "cpu", "--quiet"]


def _committed_shards(index) -> int:
    db = index / "catalog.sqlite"
    if not db.exists():
        return 0
    try:
        return len(Catalog(IndexDir(index).default_catalog_url).shards())
    except Exception:  # the writer may hold the database for a moment
        return 0


def test_sigkill_mid_run_then_resume_matches_an_uninterrupted_run(tmp_path, small_archive, tiny_vit_config):
    src = small_archive / "dataset.json"
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    subprocess.run(_cmd(src, clean, tiny_vit_config), check=True, env=env, capture_output=True)

    proc = subprocess.Popen(_cmd(src, killed, tiny_vit_config), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while _committed_shards(killed) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed; make the job bigger"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_images = Catalog(IndexDir(killed).default_catalog_url).image_counts()["images"]
    assert 8 <= done_images < 24  # shards of >= 4 images: killed part-way
    assert IndexDir(killed).current() is None  # nothing published yet

    rerun = subprocess.run(_cmd(src, killed, tiny_vit_config), env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    # Finished shards were not redone.
    assert f"indexed {24 - done_images} new image(s)" in rerun.stderr
    assert f"{done_images} already indexed" in rerun.stderr

    a, b = index_info(clean), index_info(killed)
    assert (a.images, a.captions, a.views) == (b.images, b.captions, b.views)
    assert b.images == 24 and b.pending_images == 0
    idx = IndexDir(killed)
    m = idx.manifest()
    ids = pq.read_table([idx.version_path(m.version) / "vectors" / f for f in m.view_shards], columns=["node_id"])
    assert ids.num_rows == len(set(ids.column("node_id").to_pylist())) == sum(b.views.values())
    assert sorted(p.name.split(".")[0] for p in (killed / "shards").iterdir()) == sorted(
        s.name for s in Catalog(idx.default_catalog_url).shards() for _ in (0, 1))
