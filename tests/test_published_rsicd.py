"""benchmarks/published_rsicd.json and the README table built from it: every published method says where its
image tower starts, so a reader can compare GeoSeek's from-scratch figures with what they are."""
from __future__ import annotations

import json
import sys

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import summary_eval  # noqa: E402

PUBLISHED = json.loads((ROOT / "benchmarks" / "published_rsicd.json").read_text())
OFFICIAL = json.loads((ROOT / "benchmarks" / "results" / "recall_rsicd_official_test.json").read_text())


def test_every_published_method_names_its_image_tower_and_where_that_was_read():
    for m in PUBLISHED["methods"]:
        assert m["image_tower_init"].strip(), m["method"]
        checked = m["image_tower_init"] not in ("not checked", "vision-language pretrained")
        assert bool(m["image_tower_source"]) == checked, m["method"]  # a claimed start has a source; none without


def test_the_headline_table_shows_the_image_tower_column_and_its_sources():
    out: list[str] = []
    worse: list[str] = []
    summary_eval.rsicd_official_section(OFFICIAL, PUBLISHED, out, worse)
    text = "\n".join(out)
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("| method |"))
    assert "image tower starts from" in header
    for m in PUBLISHED["methods"]:
        row = next(line for line in lines if line.startswith(f"| {m['method']} |"))
        assert f"| {m['image_tower_init']} |" in row and row.rstrip(" |").endswith(f"{m['mR']}")
        if m["image_tower_source"]:
            assert f"{m['method']}: {m['image_tower_source']}" in text
    ours = [line for line in lines if line.startswith("| GeoSeek default model")]
    assert len(ours) == 2 and all("random init, trained here on RSICD train" in line for line in ours)
    # The shipped model is below every published non-pretrained method but AMFMN, and the worse list says so.
    assert any("GaLR" in w and "PIR" in w for w in worse)
