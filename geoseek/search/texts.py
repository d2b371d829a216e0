"""Image -> text results: one hit per distinct caption.

Archives repeat captions across images (RSICD has thousands of "many buildings are in a dense
residential area ."), so ten nearest captions are often three sentences. A hit stands for every
caption in the index with the same text, and says how many there are (``count``).
"""
from __future__ import annotations

import re
from collections import Counter

from geoseek.index.version import TextData

_SPACE = re.compile(r"\s+")
_TRAIL = re.compile(r"[\s.!;,]+$")


def caption_key(text: str) -> str:
    """What makes two captions the same to a reader: case, runs of spaces and trailing full stops ignored."""
    return _TRAIL.sub("", _SPACE.sub(" ", text.strip().casefold()))


def caption_counts(text: TextData) -> tuple[list[str], Counter]:
    """(key per caption row, how many rows share each key); computed once per index version."""
    cached = text.__dict__.get("_caption_counts")
    if cached is None:
        keys = [caption_key(t) for t in text.texts]
        cached = (keys, Counter(keys))
        text.__dict__["_caption_counts"] = cached
    return cached


def first_distinct(rows: list[int], text: TextData, k: int) -> list[tuple[int, int]]:
    """The first ``k`` rows (already ranked best first) with a caption not seen before, each with the
    number of captions in the index that share its text: [(row, count)]."""
    keys, counts = caption_counts(text)
    seen: set[str] = set()
    out: list[tuple[int, int]] = []
    for row in rows:
        key = keys[row]
        if key in seen:
            continue
        seen.add(key)
        out.append((row, counts[key]))
        if len(out) == k:
            break
    return out
