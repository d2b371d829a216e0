"""The demo's suggested queries work: on the demo sample indexed with the shipped default model, each query's
target ranks within its stated top N, and the docs quote the same list."""
from __future__ import annotations

from pathlib import Path

import pytest

from geoseek.ui.demo_queries import DEMO_QUERIES, DemoQuery

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def target_rank(paths: list[str], query: DemoQuery) -> int | None:
    """1-based rank of the first result that is the query's target image or lies in its class folder."""
    target = (EXAMPLES / query.target).resolve()
    for rank, path in enumerate(paths, 1):
        p = Path(path).resolve()
        if p == target or target in p.parents:
            return rank
    return None


def test_every_target_exists_and_the_docs_quote_the_suggestions():
    for q in DEMO_QUERIES:
        assert (EXAMPLES / q.target).exists(), q.target
    for doc in (ROOT / "README.md", EXAMPLES / "README.md"):
        text = " ".join(doc.read_text().split())  # a quote may wrap across lines
        missing = [q.text for q in DEMO_QUERIES if f"*{q.text}*" not in text]
        assert not missing, f"{doc.name} does not quote {missing}"


@pytest.mark.slow  # indexes the demo sample with the shipped model (~40 s on two CPU cores)
def test_each_suggestion_finds_its_target_in_the_demo_sample(tmp_path):
    from geoseek.indexer import run_index
    from geoseek.search.engine import SearchEngine

    run_index([EXAMPLES / "rsicd_aid" / "dataset.json", EXAMPLES / "joplin"], tmp_path / "ix", device="cpu",
              progress=False)
    engine = SearchEngine(tmp_path / "ix", device="cpu")
    ranks = {}
    for q in DEMO_QUERIES:
        paths = [hit.path for hit in engine.search_text(q.text, k=max(q.top, 10)).results]
        ranks[q.text] = target_rank(paths, q)
    missed = {q.text: ranks[q.text] for q in DEMO_QUERIES if ranks[q.text] is None or ranks[q.text] > q.top}
    assert not missed, f"suggestions whose target is not in their top N (rank or None past 10): {missed}; all: {ranks}"
