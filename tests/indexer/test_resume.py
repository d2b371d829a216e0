"""Kill-and-resume: a `geoseek index` process killed with SIGKILL mid-run, then resumed.

The kill point is chosen by the indexer's own progress, not by a sleep: the killed process runs
`python -m geoseek.cli index` with a gate around ``Catalog.commit_shard``. It lets the first
``COMMITTED`` shards commit; at the next commit (that shard's Parquet files are already on disk,
the catalog does not name them yet) it drops a marker file and blocks on its stdin until it is
SIGKILLed. So the process is certain to be alive at the kill, with exactly ``COMMITTED`` shards
committed and one shard's files left over, however loaded the machine is.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from geoseek.index.catalog import Catalog
from geoseek.index.info import index_info
from geoseek.index.layout import IndexDir

IMAGES, SHARD_SIZE, COMMITTED = 24, 4, 2
GATE_TIMEOUT_S = 300.0

# argv: MARKER N geoseek-cli-args... ; runs `python -m geoseek.cli ARGS` with commits after the N-th gated.
GATED_CLI = r"""
import os, runpy, sys
from geoseek.index.catalog import Catalog

marker, allowed = sys.argv[1], int(sys.argv[2])
commit, seen = Catalog.commit_shard, []

def gated_commit(self, *args, **kwargs):
    seen.append(1)
    if len(seen) > allowed:
        with open(marker + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.replace(marker + ".tmp", marker)
        sys.stdin.read()  # block here until SIGKILLed (EOF: the test went away)
        os._exit(3)  # never commit past the gate
    return commit(self, *args, **kwargs)

Catalog.commit_shard = gated_commit
sys.argv = ["geoseek.cli", *sys.argv[3:]]
runpy.run_module("geoseek.cli", run_name="__main__", alter_sys=True)
"""


def _args(src: Path, index: Path, spec: Path) -> list[str]:
    return ["index", str(src), "--index", str(index), "--model", str(spec), "--shard-size", str(SHARD_SIZE),
            "--batch-size", "4", "--device", "cpu", "--quiet"]


def _files_by_shard(index: Path) -> set[str]:
    return {p.name.split(".")[0] for p in (index / "shards").iterdir()}


@pytest.mark.slow
def test_sigkill_after_committed_shards_then_resume_matches_an_uninterrupted_run(tmp_path, small_archive, tiny_vit_config):
    src = small_archive / "dataset.json"
    clean, killed, marker = tmp_path / "clean", tmp_path / "killed", tmp_path / "gate-reached"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    clean_log, killed_log = (tmp_path / "clean.log").open("w+"), (tmp_path / "killed.log").open("w+")
    # The uninterrupted run goes alongside the killed one (they share nothing but the archive).
    reference = subprocess.Popen([sys.executable, "-m", "geoseek.cli", *_args(src, clean, tiny_vit_config)], env=env,
                                 stdout=clean_log, stderr=subprocess.STDOUT)
    proc = subprocess.Popen([sys.executable, "-c", GATED_CLI, str(marker), str(COMMITTED), *_args(src, killed, tiny_vit_config)],
                            env=env, stdin=subprocess.PIPE, stdout=killed_log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + GATE_TIMEOUT_S
        while not marker.exists():
            if proc.poll() is not None:
                killed_log.seek(0)
                pytest.fail(f"the indexer exited (code {proc.returncode}) before its shard #{COMMITTED + 1} commit; "
                            f"output:\n{killed_log.read()}")
            if time.monotonic() > deadline:
                pytest.fail(f"the indexer did not reach its shard #{COMMITTED + 1} commit in {GATE_TIMEOUT_S:.0f} s")
            time.sleep(0.05)
        assert int(marker.read_text()) == proc.pid
        # Blocked at the gate: alive, and it can commit nothing more.
        assert proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
        reference.wait(timeout=GATE_TIMEOUT_S)
    finally:
        for p in (proc, reference):
            if p.poll() is None:  # a failure above: leave nothing running
                p.kill()
                p.wait()
        clean_log.seek(0)
        clean_out = clean_log.read()
        clean_log.close()
        killed_log.close()
    assert reference.returncode == 0, clean_out

    idx = IndexDir(killed)
    shards = Catalog(idx.default_catalog_url).shards()
    # Killed after >= 1 committed shard and before the last: exactly the gated number, images still to do.
    assert len(shards) == COMMITTED and all(s.state == "pending" for s in shards)
    done_images = Catalog(idx.default_catalog_url).image_counts()["images"]
    assert done_images == sum(s.n_images for s in shards)
    assert COMMITTED * SHARD_SIZE <= done_images < IMAGES
    assert idx.current() is None  # nothing published yet
    # The shard in flight wrote its files but was never committed: a leftover for the next run to remove.
    leftovers = _files_by_shard(killed) - {s.name for s in shards}
    assert len(leftovers) == 1

    rerun = subprocess.run([sys.executable, "-m", "geoseek.cli", *_args(src, killed, tiny_vit_config)], env=env,
                           capture_output=True, text=True, check=False)
    assert rerun.returncode == 0, rerun.stderr
    # Finished shards were not redone.
    assert f"indexed {IMAGES - done_images} new image(s)" in rerun.stderr
    assert f"{done_images} already indexed" in rerun.stderr

    a, b = index_info(clean), index_info(killed)
    assert (a.images, a.captions, a.views) == (b.images, b.captions, b.views)
    assert b.images == IMAGES and b.pending_images == 0
    m = idx.manifest()
    assert m.images == IMAGES
    ids = pq.read_table([idx.version_path(m.version) / "vectors" / f for f in m.view_shards], columns=["node_id"])
    assert ids.num_rows == len(set(ids.column("node_id").to_pylist())) == sum(b.views.values())  # no image twice
    final = Catalog(idx.default_catalog_url).shards()
    assert {s.name for s in shards} <= {s.name for s in final} and all(s.state == "committed" for s in final)
    assert sorted(p.name.split(".")[0] for p in (killed / "shards").iterdir()) == sorted(
        s.name for s in final for _ in (0, 1))  # leftovers removed; two files per committed shard
    # Searchable, with the same answers as the uninterrupted index (imported here: it loads torch).
    from geoseek.search.engine import SearchEngine
    ea, eb = SearchEngine(clean, device="cpu"), SearchEngine(killed, device="cpu")
    for q in ("many buildings near a road", "a green park"):
        ra, rb = ea.search_text(q, k=10), eb.search_text(q, k=10)
        assert len(rb.results) == 10
        assert [h.image_id for h in ra.results] == [h.image_id for h in rb.results]
