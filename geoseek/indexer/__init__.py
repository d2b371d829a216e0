"""Indexer: read sources -> plan views (DRIS) -> embed -> Parquet shards -> FAISS; catalog (SQLAlchemy)."""
from geoseek.indexer.catalog import Catalog
from geoseek.indexer.planner import ViewNode, plan_uniform, plan_views, uniform_tile_count
from geoseek.indexer.rasters import RasterError, open_raster
from geoseek.indexer.runner import IndexReport, IndexSettingsError, publish_version, run_index
from geoseek.indexer.sources import DatasetError, SourceItem, discover
from geoseek.indexer.store import IndexDir

__all__ = [
    "Catalog",
    "DatasetError",
    "IndexDir",
    "IndexReport",
    "IndexSettingsError",
    "RasterError",
    "SourceItem",
    "ViewNode",
    "discover",
    "open_raster",
    "plan_uniform",
    "plan_views",
    "publish_version",
    "run_index",
    "uniform_tile_count",
]
