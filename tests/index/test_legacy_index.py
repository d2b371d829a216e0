"""An index written by the code before the one-way refactor (tests/data/legacy_index_v1, made by its
make_legacy.py with commit ddb6b1d) opens and answers exactly what that code answered."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from geoseek.models import load_encoder
from geoseek.schemas.errors import QueryError
from geoseek.search.engine import SearchEngine

LEGACY = Path(__file__).resolve().parents[1] / "data" / "legacy_index_v1"
# The default model this index was built with (geoseek-default@9a965c727444, shipped until the v2 default):
# kept here so that text and image queries on the old index can still be answered as they were.
OLD_DEFAULT = LEGACY / "geoseek-default-9a965c727444.pt"


def _old_default_encoder():
    """The old default checkpoint under the id it had when it was ``geoseek-default`` (same weights checksum)."""
    enc = load_encoder(str(OLD_DEFAULT), device="cpu")
    enc.id = f"geoseek-default@{enc.checksum[:12]}"
    return enc


@pytest.fixture(scope="module")
def legacy() -> dict:
    """What the old code answered (expected.json: the index's levels, sizes and one response per case)."""
    return json.loads((LEGACY / "expected.json").read_text())


def _same(got: dict, want: dict) -> None:
    assert got["version"] == want["version"] and got["levels"] == want["levels"]
    assert got["weights"] == pytest.approx(want["weights"])
    assert len(got["results"]) == len(want["results"])
    for g, w in zip(got["results"], want["results"]):
        key = "image_id" if "image_id" in w and "text_id" not in w else "text_id"
        assert g[key] == w[key]
        assert g["score"] == pytest.approx(w["score"], abs=1e-5)
        assert g["level_scores"] == pytest.approx(w["level_scores"], abs=1e-5)
        for box in ("region_box", "object_box"):
            assert g.get(box) == w.get(box)


def _dump(resp) -> dict:
    d = json.loads(resp.model_dump_json())
    for r in d["results"]:
        r.pop("path", None)
    return d


def test_legacy_index_answers_as_before(tmp_path, legacy):
    index = tmp_path / "index"
    shutil.copytree(LEGACY / "index", index)
    engine = SearchEngine(index, encoder=_old_default_encoder(), device="cpu")
    state = engine.state()
    assert state.manifest.model.id == engine.encoder.id == "geoseek-default@9a965c727444"
    assert state.manifest.levels == legacy["levels"]
    assert len(state.images.ids) == legacy["n_images"]
    assert {lv: state.levels[lv].size for lv in state.levels} == legacy["views"]
    kinds = set()
    for case in legacy["answers"]:
        kinds.add(case["kind"])
        if case["kind"] == "text_vector":
            q = state.text.vectors[case["text_row"]].astype(np.float32)
            resp = engine.search_text_vector(q, case["k"], case["levels"])
        elif case["kind"] == "image":
            resp = engine.search_image(case["image_id"], case["target"], case["k"], distinct=False)
        elif case["kind"] == "text":
            resp = engine.search_text(case["query"], case["k"], refine=case.get("refine", False))
        else:
            resp = engine.search_image((LEGACY / case["file"]).read_bytes(), case["target"], case["k"], distinct=False)
        _same(_dump(resp), case["response"])
    assert kinds == {"text_vector", "image", "text", "upload"}
    # The old code returned every carrier of a repeated caption; now one hit per text is the default
    # (distinct=False above is the old behaviour): the distinct answer is the old list, repeats left out.
    for case in (c for c in legacy["answers"] if c["kind"] == "image" and c["target"] == "texts"):
        got = engine.search_image(case["image_id"], "texts", case["k"]).results
        old = [r["text_id"] for r in case["response"]["results"]]
        kept = [h.text_id for h in got if h.text_id in old]
        assert kept == [t for t in old if t in kept] and len({h.text for h in got}) == len(got)


def test_legacy_index_refuses_the_current_default_model_by_name(tmp_path):
    index = tmp_path / "index"
    shutil.copytree(LEGACY / "index", index)
    engine = SearchEngine(index, device="cpu")  # loads the manifest's spec, geoseek-default: today's weights
    with pytest.raises(QueryError, match=r"index was built with geoseek-default@9a965c727444, engine encoder is "
                                         r"geoseek-default@(?!9a965c727444)[0-9a-f]{12}"):
        engine.search_text("a river", 5)
