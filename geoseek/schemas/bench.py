"""Benchmark vocabulary shared by the trainer, ``geoseek bench`` and the summaries."""
from __future__ import annotations

from enum import Enum


class MatchRule(str, Enum):
    """Which images count as correct for a text->image query (caption entry).

    ``image`` is the field's standard rule (the evaluation code of RemoteCLIP, GeoRSCLIP, AMFMN
    and GaLR): a caption entry's only correct image is its own. ``caption`` is a lenient variant
    that also accepts any gallery image carrying the identical string; on datasets that repeat
    captions (RSICD) it inflates the numbers, so it is opt-in, labelled, and never used to choose
    checkpoints or fusion weights. image->text is the same under both: a hit is one of the
    image's own caption entries.
    """

    IMAGE = "image"
    CAPTION = "caption"

    @property
    def description(self) -> str:
        """One line for JSON results and printed tables."""
        if self is MatchRule.IMAGE:
            return "standard own-image rule: a caption's only correct image is its own"
        return "LENIENT: any image carrying the identical caption string counts (not comparable to published numbers)"

    def as_json(self) -> dict[str, str]:
        return {"rule": self.value, "description": self.description}
