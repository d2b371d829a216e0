"""The indexer: discover sources -> plan and embed views -> write shards through ``geoseek.index`` -> publish a version."""
from geoseek.indexer.runner import (
    IndexReport,
    IndexSettingsError,
    publish_version,
    run_index,
    run_job,
)

__all__ = ["IndexReport", "IndexSettingsError", "publish_version", "run_index", "run_job"]
