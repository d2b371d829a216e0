"""Summaries of an index directory for `geoseek info`."""
from __future__ import annotations

from pathlib import Path

from geoseek.index.catalog import Catalog
from geoseek.index.layout import IndexDir
from geoseek.schemas import IndexInfo
from geoseek.schemas.errors import NoIndexError


def index_info(index: Path, catalog_url: str | None = None) -> IndexInfo:
    """What the live version holds, plus skipped inputs and work an unfinished run left pending."""
    idx = IndexDir(index)
    if not idx.exists():
        raise NoIndexError(f"no GeoSeek index at {index}")
    catalog = Catalog(catalog_url or idx.default_catalog_url)
    manifest = idx.manifest()
    live = manifest.view_shards if manifest else []
    live_names = [f.split(".")[0] for f in live]
    counts = catalog.image_counts(live_names)
    pending = sum(s.n_images for s in catalog.shards(state="pending"))
    return IndexInfo(
        index=str(index),
        version=manifest.version if manifest else None,
        versions=idx.list_versions(),
        images=counts["images"],
        captions=counts["captions"],
        views={"global": counts["global"], "region": counts["region"], "object": counts["object"]},
        views_per_image=catalog.views_histogram(live_names),
        model=manifest.model.model_dump() if manifest else None,
        skipped=catalog.skipped(),
        pending_images=pending,
    )
