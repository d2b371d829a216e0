"""The queries the demo suggests, each with the scene of the demo sample (examples/) it is meant to find.

The one list the UI shows and the docs quote. tests/ui/test_demo_queries.py indexes the sample with the
shipped default model and checks that each query's target ranks within its ``top`` results.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoQuery:
    """A suggested query and what it finds in the demo sample."""

    text: str
    target: str  # relative to examples/: one image file, or a class folder (any image in it counts)
    top: int = 3  # the best-ranked image of ``target`` is among this many results


DEMO_QUERIES: tuple[DemoQuery, ...] = (
    DemoQuery("a destroyed housing area on green grassland", "joplin/tile_32524-5137.tif"),
    DemoQuery("many planes are parked near a terminal", "rsicd_aid/images/Airport"),
    DemoQuery("storage tanks in an industrial area", "rsicd_aid/images/StorageTanks"),
    DemoQuery("a stadium with a green football field", "rsicd_aid/images/Stadium"),
    DemoQuery("a beach with waves", "rsicd_aid/images/Beach"),
)


def demo_query_texts() -> list[str]:
    """The suggested queries' texts, in the order the UI shows them."""
    return [q.text for q in DEMO_QUERIES]
