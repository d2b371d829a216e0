"""A shared catalog on a real PostgreSQL server: concurrent indexers and several API replicas use one catalog."""
from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest
from sqlalchemy import create_engine, text

from geoseek.cli.launch import served
from geoseek.index.catalog import Catalog
from geoseek.search import SearchEngine
from tests.conftest import make_split_archive
from tests.postgres import postgres_server

pytestmark = pytest.mark.slow  # starts servers or processes end to end (`pytest -m 'not slow'` skips it)


@pytest.fixture(scope="module")
def pg_url():
    with postgres_server() as url:
        yield url


def geoseek(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "geoseek.cli", *map(str, args)], capture_output=True, text=True)


def test_concurrent_indexers_and_api_replicas_share_one_postgres_catalog(pg_url, tmp_path, tiny_rn_config):
    dataset = make_split_archive(tmp_path / "archive", n_train=8, n_val=8, n_test=8)
    index = tmp_path / "index"
    # Three indexers at once, each with its own part of the archive, one index directory, one catalog;
    # they take turns (--wait) instead of interleaving versions.
    procs = [subprocess.Popen([sys.executable, "-m", "geoseek.cli", "index", str(dataset), "--split", split,
                               "--index", str(index), "--model", str(tiny_rn_config), "--device", "cpu",
                               "--catalog", pg_url, "--wait", "600", "-q"], stderr=subprocess.PIPE, text=True)
             for split in ("train", "val", "test")]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    with create_engine(pg_url).connect() as conn:  # the rows are in PostgreSQL, not in a SQLite file
        assert conn.execute(text("select count(*) from images")).scalar() == 24
        assert conn.execute(text("select count(distinct split) from images")).scalar() == 3
    assert not (index / "catalog.sqlite").exists()
    info = json.loads(geoseek("info", "--index", index, "--catalog", pg_url, "--json").stdout)
    assert info["images"] == 24 and info["pending_images"] == 0
    # A re-run adds nothing twice.
    again = geoseek("index", dataset, "--index", index, "--model", tiny_rn_config, "--catalog", pg_url, "-q")
    assert again.returncode == 0 and "0 new image(s)" in again.stderr and "24 already indexed" in again.stderr
    # Two API replicas over the same catalog answer identically, and as the in-process engine does.
    query = {"query": "many buildings near a road", "k": 5}
    with served(index, catalog=pg_url) as a, served(index, catalog=pg_url) as b:
        ra, rb = (httpx.post(f"{u}/v1/search/text", json=query, timeout=60).json() for u in (a, b))
        assert httpx.get(f"{a}/v1/stats", timeout=10).json()["images"] == 24
    engine = SearchEngine(index, catalog_url=pg_url, device="cpu")
    direct = engine.search_text(query["query"], k=5)
    ids = [h.image_id for h in direct.results]
    assert [h["image_id"] for h in ra["results"]] == [h["image_id"] for h in rb["results"]] == ids


def test_a_bad_catalog_url_is_a_clear_error(tmp_path, tiny_rn_config, pg_url):
    src = make_split_archive(tmp_path / "archive", n_train=2, n_val=0, n_test=0)
    bad = pg_url.replace("/postgres", "/no_such_database")
    run = geoseek("index", src, "--index", tmp_path / "ix", "--model", tiny_rn_config, "--catalog", bad, "-q")
    assert run.returncode == 2 and "catalog" in run.stderr and "no_such_database" in run.stderr
    assert "Traceback" not in run.stderr
    assert Catalog(pg_url).image_counts()["images"] >= 0  # the server itself is fine


def test_the_catalog_writer_lock_excludes_indexers_on_other_machines(pg_url, tmp_path):
    """Two Catalog objects (as on two machines) cannot both hold an index's writer lock."""
    key = str(tmp_path / "shared-index")
    first, second = Catalog(pg_url), Catalog(pg_url)
    with first.writer_lock(key):
        with pytest.raises(RuntimeError, match="holds the catalog lock"):
            with second.writer_lock(key, wait_s=0.5):
                pass
        with second.writer_lock(key + "-other"):  # another index is not blocked
            pass
    with second.writer_lock(key):  # released with the first
        pass
