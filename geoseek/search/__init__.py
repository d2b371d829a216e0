"""Search: vector stores, fusion and the engine (text->image, image->text, image->image).

Names load on first use (PEP 562), so importing a light module such as ``geoseek.search.filters``
does not import torch through the engine.
"""
from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "SearchEngine": "geoseek.search.engine",
    "IndexState": "geoseek.search.state",
    "Filters": "geoseek.search.filters",
    "parse_bbox": "geoseek.search.filters",
    "FilterError": "geoseek.schemas.errors",
    "QueryError": "geoseek.schemas.errors",
    "QueryImageError": "geoseek.schemas.errors",
    "UnknownImageError": "geoseek.schemas.errors",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'geoseek.search' has no attribute '{name}'")
    return getattr(importlib.import_module(_WHERE[name]), name)
