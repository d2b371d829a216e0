"""benchmarks/summary_provenance.py: which model a results file was measured with, so that the benchmark README
labels an earlier model's numbers and keeps them out of the headline."""
from __future__ import annotations

import json
import sys

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import summary_provenance as prov  # noqa: E402

SHIPPED, OLD = "geoseek-default@a4ccca6fff10", "geoseek-default@9a965c727444"


def test_models_are_found_at_any_depth_in_every_recorded_form():
    result = {"rows": [{"model": OLD}], "towers": {"default": {"model_id": SHIPPED}, "vit": {"model_id": "ViT-B-32@x"}},
              "info": {"model": {"id": SHIPPED, "dim": 384}}, "note": "model: not a record"}
    assert prov.recorded_models(result) == {OLD, SHIPPED}  # other towers' ids are not GeoSeek default models
    assert prov.recorded_models({"seconds": 3.2}) == set()


@pytest.mark.parametrize(("result", "current"), [
    ({"model": SHIPPED}, True),
    ({"model": OLD}, False),
    ({"a": {"model": SHIPPED}, "b": {"model": OLD}}, False),  # a file mixing models is not the shipped one's
    ({"seconds": 1.0}, False),  # nothing recorded: the headline cannot vouch for it
    (None, False),
])
def test_only_results_recorded_with_the_shipped_model_are_current(result, current):
    assert prov.is_current(result, SHIPPED) is current


def test_a_stale_section_says_which_model_it_was_measured_with():
    note = prov.stale_note({"model": OLD}, SHIPPED)
    assert OLD in note[0] and SHIPPED in note[0]
    assert prov.stale_note({"model": SHIPPED}, SHIPPED) == []
    assert prov.stale_note({"seconds": 1.0}, SHIPPED) == []


def test_the_provenance_table_lists_every_results_file(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"model": SHIPPED}))
    (tmp_path / "b.json").write_text(json.dumps({"model": OLD}))
    (tmp_path / "c.json").write_text(json.dumps({"qps": 9}))
    (tmp_path / "d.json").write_text(json.dumps({"runs": {"x": {"model": SHIPPED}, "y": {"model": OLD}}}))
    out: list[str] = []
    prov.provenance_section(tmp_path, SHIPPED, out)
    lines = "\n".join(out).splitlines()
    rows = {line.split("|")[1].strip(): line for line in lines if line.startswith("| `")}
    assert "shipped model" in rows["`a.json`"] and "earlier model" in rows["`b.json`"] and "none recorded" in rows["`c.json`"]
    assert "shipped model beside other runs" in rows["`d.json`"]


def test_the_committed_headline_results_were_measured_with_the_shipped_checkpoint():
    """A new default checkpoint must come with its own RSICD headline numbers, not the previous model's."""
    shipped = prov.shipped_model_id()
    headline = json.loads((ROOT / "benchmarks" / "results" / "recall_rsicd_official_test.json").read_text())
    assert prov.is_current(headline, shipped), (prov.recorded_models(headline), shipped)
