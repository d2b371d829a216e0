"""Optional dependencies: the heavy packages behind one feature each live in a pyproject extra
(ray, milvus, postgres, ui, bench; ``all`` is every one). A feature whose extra is not installed
fails with MissingExtraError, whose one-line message names the extra and the pip command."""
from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from geoseek.schemas.errors import MissingExtraError

__all__ = ["MissingExtraError", "require", "require_installed"]


def require(module: str, extra: str, feature: str) -> ModuleType:
    """Import ``module``; MissingExtraError naming ``extra`` if it (or a package it needs) is missing.

    ``feature`` is plural, it starts the message: "Milvus stores need the 'milvus' extra: ...".
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(feature, extra, module) from exc


def require_installed(module: str, extra: str, feature: str) -> None:
    """Like require, without importing: for packages another process runs (``python -m streamlit``)."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package that is missing or half-imported
        found = False
    if not found:
        raise MissingExtraError(feature, extra, module)
