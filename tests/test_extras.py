"""Optional extras: each heavy feature, with its package absent, fails with one line naming its extra.

A package is made absent in-process with ``sys.modules[name] = None`` (then ``import name`` raises
ImportError), for the package and every submodule already loaded, so cached submodules do not hide it.
"""
from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest
import tomllib
from typer.testing import CliRunner

from geoseek.cli import app
from geoseek.extras import MissingExtraError, require, require_installed
from tests.conftest import ROOT, RSICD, rsicd_images, write_chip_archive


def absent(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """Make ``names`` (and their loaded submodules) unimportable for this test."""
    for name in names:
        for loaded in [m for m in sys.modules if m.startswith(name + ".")]:
            monkeypatch.setitem(sys.modules, loaded, None)
        monkeypatch.setitem(sys.modules, name, None)


def assert_names(exc: pytest.ExceptionInfo, extra: str) -> None:
    msg = str(exc.value)
    assert isinstance(exc.value, ImportError) and exc.value.extra == extra
    assert "\n" not in msg and f"'{extra}' extra" in msg and msg.endswith(f"pip install 'geoseek[{extra}]'")


def one_error_line(result, extra: str) -> str:
    """The CLI's stderr is exactly one ``error:`` line naming ``extra``; exit code 2."""
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert f"'{extra}' extra" in lines[0] and f"pip install 'geoseek[{extra}]'" in lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def tiny_index(tmp_path_factory, tiny_vit_config) -> Path:
    """A real index of 3 captioned RSICD chips (tiny model)."""
    from geoseek.indexer import run_index

    base = tmp_path_factory.mktemp("extras")
    archive = base / "archive"
    write_chip_archive(archive, 3)
    run_index([archive / "dataset.json"], base / "ix", model=str(tiny_vit_config), device="cpu", progress=False)
    return base / "ix"


# -- the helper ---------------------------------------------------------------------------

def test_require_imports_or_names_the_extra(monkeypatch):
    assert require("json", "bench", "Nothing").dumps is json.dumps
    with pytest.raises(MissingExtraError) as exc:
        require("geoseek_no_such_package", "milvus", "Milvus stores")
    assert str(exc.value) == "Milvus stores need the 'milvus' extra: pip install 'geoseek[milvus]'"
    assert exc.value.name == "geoseek_no_such_package" and isinstance(exc.value.__cause__, ImportError)
    import colorsys  # noqa: F401 - loaded, then made absent

    absent(monkeypatch, "colorsys")
    with pytest.raises(MissingExtraError):
        require("colorsys", "bench", "Nothing")
    with pytest.raises(MissingExtraError):
        require_installed("colorsys", "bench", "Nothing")
    require_installed("sqlite3", "bench", "Nothing")  # installed: no error
    with pytest.raises(MissingExtraError):
        require_installed("geoseek_no_such_package.sub", "bench", "Nothing")


# -- each extra at its real import point --------------------------------------------------

def test_ray_engine_without_ray(monkeypatch):
    from geoseek.indexer.ray_engine import ray_embedded
    from geoseek.schemas import DRISParams, ObjectParams

    absent(monkeypatch, "ray")
    with pytest.raises(MissingExtraError) as exc:
        next(ray_embedded([], model="x", device="cpu", levels=["global"], dris=DRISParams(), objects=ObjectParams(),
                          batch_size=1, skipped=[]))
    assert_names(exc, "ray")


def test_milvus_store_without_pymilvus_or_milvus_lite(monkeypatch, tmp_path):
    from geoseek.search.milvus_store import MilvusStore

    absent(monkeypatch, "pymilvus")
    with pytest.raises(MissingExtraError) as exc:
        MilvusStore.open("milvus://127.0.0.1:19530", None)
    assert_names(exc, "milvus")
    monkeypatch.undo()
    absent(monkeypatch, "milvus_lite")
    with pytest.raises(MissingExtraError) as exc:
        MilvusStore.open(str(tmp_path / "x.db"), None)
    assert_names(exc, "milvus")
    assert not (tmp_path / "x.db").exists()


def test_postgres_catalog_without_psycopg(monkeypatch, tmp_path):
    from geoseek.index.catalog import Catalog

    absent(monkeypatch, "psycopg")
    from sqlalchemy.engine import make_url

    urls = ["postgresql+psycopg://geoseek@127.0.0.1:1/postgres", "postgresql+psycopg_async://geoseek@127.0.0.1:1/p"]
    if make_url("postgresql://h/db").get_driver_name() == "psycopg":  # SQLAlchemy 2.1's default PostgreSQL driver
        urls.append("postgresql://geoseek@127.0.0.1:1/postgres")
    for url in urls:
        with pytest.raises(MissingExtraError) as exc:
            Catalog(url)
        assert_names(exc, "postgres")
    assert Catalog(f"sqlite:///{tmp_path / 'c.sqlite'}").shards() == []  # SQLite needs no extra


def test_ui_launch_without_streamlit(monkeypatch):
    from geoseek.cli import launch

    monkeypatch.setattr(launch, "_spawn", lambda *a, **k: pytest.fail("started a process"))
    for module in ("streamlit", "pydeck"):
        absent(monkeypatch, module)
        with pytest.raises(MissingExtraError) as exc:
            launch.start_ui("http://127.0.0.1:1", 1)
        assert_names(exc, "ui")
        monkeypatch.undo()
        monkeypatch.setattr(launch, "_spawn", lambda *a, **k: pytest.fail("started a process"))


def test_caption_metrics_without_pycocoevalcap(monkeypatch, tmp_path):
    from geoseek.bench.caption import caption_benchmark, score_captions

    absent(monkeypatch, "pycocoevalcap")
    with pytest.raises(MissingExtraError) as exc:
        score_captions(["a river"], [["a river"]])
    assert_names(exc, "bench")
    with pytest.raises(MissingExtraError):  # before any index is opened or image is searched
        caption_benchmark(tmp_path / "no-index", tmp_path / "dataset.json")


def test_coco_boxes_without_pycocotools(monkeypatch, tmp_path):
    from geoseek.bench.scene_data import load_scenes

    coco = tmp_path / "coco.json"
    coco.write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
    absent(monkeypatch, "pycocotools")
    with pytest.raises(MissingExtraError) as exc:
        load_scenes(coco)
    assert_names(exc, "bench")


# -- the CLI: one error: line -------------------------------------------------------------

def test_cli_index_engine_ray_without_ray(monkeypatch, tmp_path, tiny_vit_config):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for e in rsicd_images(2):
        shutil.copy(RSICD / e["filepath"], folder / Path(e["filepath"]).name)
    absent(monkeypatch, "ray")
    result = CliRunner().invoke(app, ["index", str(folder), "--index", str(tmp_path / "ix"), "--engine", "ray",
                                      "--model", str(tiny_vit_config), "--device", "cpu", "-q"])
    line = one_error_line(result, "ray")
    assert line == "error: Ray indexing jobs (--engine ray) need the 'ray' extra: pip install 'geoseek[ray]'"


def test_cli_search_milvus_lite_store_without_pymilvus(monkeypatch, tmp_path, tiny_index):
    absent(monkeypatch, "pymilvus")
    result = CliRunner().invoke(app, ["search", "text", "a river", "--index", str(tiny_index), "--store",
                                      str(tmp_path / "x.db"), "--device", "cpu"])
    one_error_line(result, "milvus")


def test_cli_postgres_catalog_without_psycopg(monkeypatch, tiny_index):
    absent(monkeypatch, "psycopg")
    result = CliRunner().invoke(app, ["info", "--index", str(tiny_index), "--catalog",
                                      "postgresql+psycopg://geoseek@127.0.0.1:1/postgres"])
    one_error_line(result, "postgres")


def test_cli_ui_without_streamlit(monkeypatch):
    absent(monkeypatch, "streamlit")
    one_error_line(CliRunner().invoke(app, ["ui", "--port", "1"]), "ui")


# -- pyproject ----------------------------------------------------------------------------

def test_all_extra_covers_every_other_extra():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert {"ray", "milvus", "postgres", "ui", "bench", "all", "dev"} <= set(extras)
    covered: set[str] = set()
    for req in extras["all"]:
        m = re.fullmatch(r"geoseek\[([\w,\s-]+)\]", req)
        assert m, f"'all' holds {req!r}, not a geoseek[...] self-reference"
        covered |= {x.strip() for x in m.group(1).split(",")}
    assert covered == set(extras) - {"all", "dev"}


def test_core_dependencies_hold_no_extra_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    heavy = {"ray", "pymilvus", "milvus-lite", "psycopg", "streamlit", "pydeck", "pycocoevalcap", "pycocotools"}
    names = {re.split(r"[\s\[<>=!;~]", req, maxsplit=1)[0].lower() for req in project["dependencies"]}
    assert names & heavy == set()
