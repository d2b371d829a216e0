"""`geoseek search --api URL`: the CLI asks a running `geoseek serve` and prints exactly what the
in-process search prints (the server's timing aside)."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from geoseek.cli import app
from geoseek.cli.launch import free_port, served

pytestmark = pytest.mark.slow  # starts a real server (`pytest -m 'not slow'` skips it)


@pytest.fixture(scope="module")
def api(small_index):
    mp = pytest.MonkeyPatch()
    mp.setenv("GEOSEEK_PATHS", "absolute")  # the server shows paths as the in-process CLI does
    try:
        with served(small_index.root) as base:
            yield base
    finally:
        mp.undo()


def _json(args: list[str]) -> dict:
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    out.pop("took_ms")
    return out


CASES = [
    ["search", "text", "houses and a road", "-k", "5"],
    ["search", "text", "a river", "-k", "4", "--levels", "global", "--bbox", "-180,-90,180,90"],
    ["search", "text", "buildings", "-k", "3", "--weights", "1,1,0", "--start", "2011-01-01", "--end", "2012-01-01"],
]


@pytest.mark.parametrize("args", CASES, ids=["fused", "global-bbox", "weights-dates"])
def test_text_search_through_the_api_prints_the_same_json(api, small_index, args):
    local = _json([*args, "--index", str(small_index.root), "--device", "cpu", "--json"])
    remote = _json([*args, "--api", api, "--json"])
    assert remote == local and local["results"]


def test_image_search_by_file_and_by_id_through_the_api(api, small_index, monkeypatch):
    for target in ("images", "texts"):
        args = ["search", "image", str(small_index.chip0), "--target", target, "-k", "4", "--json"]
        local = _json([*args, "--index", str(small_index.root), "--device", "cpu"])
        assert _json([*args, "--api", api]) == local and local["results"]
    image_id = local["results"][0]["image_id"]
    local = _json(["search", "image", image_id, "-k", "3", "--json", "--index", str(small_index.root), "--device", "cpu"])
    monkeypatch.setenv("GEOSEEK_API", api)  # the setting instead of --api
    assert _json(["search", "image", image_id, "-k", "3", "--json"]) == local


def test_api_errors_are_one_line(api, small_index, tmp_path):
    res = CliRunner().invoke(app, ["search", "image", "no-such-image-id", "--api", api])
    assert res.exit_code == 2 and "error:" in res.output and "HTTP 404" in res.output
    dead = f"http://127.0.0.1:{free_port()}"
    res = CliRunner().invoke(app, ["search", "text", "a river", "--api", dead])
    assert res.exit_code == 2 and "cannot reach the GeoSeek API" in res.output
    res = CliRunner().invoke(app, ["search", "text", "a river", "--api", api, "--index", str(small_index.root)])
    assert res.exit_code == 2 and "not both" in res.output
    res = CliRunner().invoke(app, ["search", "text", "a river", "--api", api, "--start", "last tuesday"])
    assert res.exit_code == 2 and "expected ISO 8601" in res.output
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    res = CliRunner().invoke(app, ["search", "image", str(empty), "--api", api])
    assert res.exit_code == 2 and "empty file" in res.output and "upload" not in res.output
