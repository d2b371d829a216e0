"""Which model each results file was measured with, so that benchmarks/README.md never passes an earlier
model's numbers off as the shipped one's.

A results file records its model where a ``geoseek`` command or benchmark script wrote it (keys ``model`` or
``model_id`` anywhere in the JSON, values such as ``geoseek-default@a4ccca6fff10``, or an index's model record
``{"id": ...}`` as ``geoseek info`` gives it). The shipped model's id is
read from the checkpoint in the checkout, the way every index records it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from summary_tables import table

MODEL_KEYS = ("model", "model_id")


def recorded_models(result: Any) -> set[str]:
    """Every GeoSeek model id recorded anywhere in one results file's JSON (empty: none recorded)."""
    found: set[str] = set()
    stack = [result]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in MODEL_KEYS and isinstance(value, dict):  # an index's model record (geoseek info)
                    value = value.get("id")
                if key in MODEL_KEYS and isinstance(value, str) and value.startswith("geoseek-default@"):
                    found.add(value)
                else:
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return found


def shipped_model_id() -> str:
    """The id (``geoseek-default@<checksum12>``) of the default checkpoint in this checkout."""
    from geoseek.models import load_model

    return load_model("geoseek-default").id


def is_current(result: dict | None, shipped: str) -> bool:
    """True when the file records the shipped model (and only it) among GeoSeek default models."""
    return bool(result) and recorded_models(result) == {shipped}


def stale_note(result: dict, shipped: str) -> list[str]:
    """A line for a section whose numbers come from another model than the shipped one ([] when current)."""
    models = recorded_models(result)
    if not models or models == {shipped}:
        return []
    return [f"**Measured with {', '.join(f'`{m}`' for m in sorted(models))}, not the shipped `{shipped}`**: "
            "an earlier model; this section was not re-run with the shipped one.", ""]


def provenance_section(results_dir: Path, shipped: str, out: list[str]) -> None:
    """A table of every results file and the model it records."""
    import json

    rows = []
    for path in sorted(results_dir.glob("*.json")):
        ours = sorted(recorded_models(json.loads(path.read_text())))
        state = ("shipped model" if ours == [shipped] else
                 "shipped model beside other runs" if shipped in ours else "earlier model" if ours else "none recorded")
        rows.append([f"`{path.name}`", ", ".join(f"`{m}`" for m in ours) or "-", state])
    out += ["## Which model each result was measured with", "",
            f"The shipped default is `{shipped}`. The headline table uses only results recorded with it.", "",
            table(["results file", "model recorded", ""], rows), ""]
