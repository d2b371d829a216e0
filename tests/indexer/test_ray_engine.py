"""`--engine ray`: the embed stage on Ray Data (a local Ray with 2 CPUs) gives the local engine's index."""
from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest

from geoseek.indexer import run_index
from geoseek.search import SearchEngine
from tests.conftest import JOPLIN

pytestmark = pytest.mark.slow  # starts servers or processes end to end (`pytest -m 'not slow'` skips it)


@pytest.fixture(scope="module")
def local_ray():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def views_of(index) -> dict[str, np.ndarray]:
    """node_id -> vector over every view shard of the live version."""
    state = SearchEngine(index, device="cpu").state()
    files = [index / "versions" / state.version / "vectors" / f for f in state.manifest.view_shards]
    t = pq.read_table(files, columns=["node_id", "vector"])
    vecs = t.column("vector").combine_chunks()
    arr = vecs.values.to_numpy(zero_copy_only=False).reshape(-1, vecs.type.list_size)
    return dict(zip(t.column("node_id").to_pylist(), arr))


def test_ray_engine_equals_the_local_engine(local_ray, split_dataset, tiny_vit_config, tmp_path):
    scene = tmp_path / "scene"
    scene.mkdir()
    (scene / "bad.jpg").write_bytes(b"not an image")  # skipped the same way by both engines
    shutil.copy(JOPLIN / "post_mosaic_3072x2048.jpg", scene / "joplin.jpg")
    srcs = [split_dataset, scene]
    local = run_index(srcs, tmp_path / "local", model=str(tiny_vit_config), device="cpu", progress=False, shard_size=16)
    on_ray = run_index(srcs, tmp_path / "ray", model=str(tiny_vit_config), device="cpu", progress=False, shard_size=16,
                       engine="ray")
    assert on_ray.new_images == local.new_images == 65 and on_ray.views == local.views
    assert [s.path for s in on_ray.skipped] == [s.path for s in local.skipped] and len(local.skipped) == 1
    a, b = views_of(tmp_path / "local"), views_of(tmp_path / "ray")
    assert a.keys() == b.keys() and len(a) > 65  # the scene has region and object views
    np.testing.assert_allclose(np.stack([a[k] for k in a]), np.stack([b[k] for k in a]), atol=1e-3)  # float16 storage
    la, lb = SearchEngine(tmp_path / "local", device="cpu"), SearchEngine(tmp_path / "ray", device="cpu")
    for q in ("many buildings near a road", "a green park"):
        ra, rb = la.search_text(q, k=10), lb.search_text(q, k=10)
        assert [h.image_id for h in ra.results] == [h.image_id for h in rb.results]
        assert [h.region_box for h in ra.results] == [h.region_box for h in rb.results]


def test_an_unknown_engine_is_refused(tmp_path, tiny_rn_config):
    run = subprocess.run([sys.executable, "-m", "geoseek.cli", "index", str(tmp_path), "--index", str(tmp_path / "ix"),
                          "--model", str(tiny_rn_config), "--engine", "spark"], capture_output=True, text=True)
    assert run.returncode == 2 and "--engine must be 'local' or 'ray'" in run.stderr
    assert not (tmp_path / "ix").exists()
