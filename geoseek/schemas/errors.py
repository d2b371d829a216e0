"""Every error GeoSeek raises on purpose: one base, one subclass per kind of failure.

The message of each is one line a user can act on. The CLI maps them to exit codes in one place
(geoseek/cli/common.py) and the API to HTTP statuses in one place (geoseek/search/api/errors.py).
The second base class keeps ``except ValueError`` (etc.) in callers working.
"""
from __future__ import annotations


class GeoSeekError(Exception):
    """Base of GeoSeek's own errors; ``str(err)`` is the one-line reason."""


class InputError(GeoSeekError, ValueError):
    """A request or option that cannot be served as given (levels, weights, k, a query)."""


class QueryError(InputError):
    """A search request that cannot be served as asked; the message says what is wrong."""


class LevelError(QueryError):
    """Levels or level weights that are not valid (for this index)."""


class FilterError(InputError):
    """A bbox, date or collection filter that cannot be applied."""


class QueryImageError(InputError):
    """An uploaded query image that cannot be used; the message says why."""


class UnsupportedImageError(QueryImageError):
    """An upload in a format GeoSeek does not read (the API answers 415)."""


class UnknownImageError(GeoSeekError, KeyError):
    """An image id that is not in the index; ``args[0]`` is the id."""

    def __str__(self) -> str:
        return f"unknown image id '{self.args[0]}'" if self.args else "unknown image id"


class SourceUnreadableError(GeoSeekError):
    """An indexed image whose source file moved or changed since indexing."""


class DatasetError(GeoSeekError, ValueError):
    """A dataset (json, folder) that cannot be read as a whole; nothing was indexed from it."""


class RasterError(GeoSeekError):
    """One input image that cannot be indexed (skipped with this reason; the run goes on)."""


class IndexSettingsError(GeoSeekError, ValueError):
    """Options that contradict how an existing index was built."""


class IndexLockedError(GeoSeekError, RuntimeError):
    """Another geoseek process is writing to the same index directory."""


class IndexFormatError(GeoSeekError, RuntimeError):
    """An index directory whose files or catalog do not match (missing shard files, catalog rows)."""


class NoIndexError(GeoSeekError, FileNotFoundError):
    """No published index version at the given path."""


class StoreError(GeoSeekError, RuntimeError):
    """A vector store that cannot be reached, created or searched; the message says which and why."""


class ModelSpecError(GeoSeekError, ValueError):
    """A model spec or checkpoint that cannot be loaded."""


class BenchError(GeoSeekError, ValueError):
    """A benchmark that cannot run as asked (split, index and dataset disagree)."""


class MissingExtraError(GeoSeekError, ImportError):
    """A feature whose optional dependencies are not installed; the one-line message names the extra."""

    def __init__(self, feature: str, extra: str, module: str) -> None:
        super().__init__(f"{feature} need the '{extra}' extra: pip install 'geoseek[{extra}]'")
        self.name, self.feature, self.extra = module, feature, extra
