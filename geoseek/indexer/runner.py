"""Run an indexing job: discover -> dedupe by content -> prepare/embed -> shard -> publish a version.

Resumable: each shard is committed to the catalog after its files are on disk, so a killed
run loses at most the shard in flight; the next run skips every committed image (by content
hash), includes committed-but-unpublished shards, and publishes one new version.
"""
from __future__ import annotations

import logging
import secrets
import time
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import faiss
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

import geoseek
from geoseek.datasets.remote import Source
from geoseek.datasets.sources import SourceItem, content_ids, discover
from geoseek.index.catalog import Catalog
from geoseek.index.layout import IndexDir
from geoseek.indexer.builder import build_all
from geoseek.indexer.engines import make_engine
from geoseek.indexer.shard_buffer import ShardBuffer
from geoseek.models import Encoder, load_encoder
from geoseek.schemas import (
    DEFAULT_FUSION,
    FusionWeights,
    IndexManifest,
    ModelInfo,
    SkippedInput,
    ViewCounts,
    parse_levels,
)
from geoseek.schemas.errors import (
    IndexSettingsError,  # noqa: F401 - raised here, re-exported
    LevelError,
)
from geoseek.schemas.jobs import FLAT_MAX, HNSW_MAX, IndexJob, IndexSettings
from geoseek.schemas.levels import Level
from geoseek.views.bands import parse_bands_option

log = logging.getLogger(__name__)



@dataclass
class IndexReport:
    version: str | None
    new_images: int = 0
    already_indexed: int = 0
    skipped: list[SkippedInput] = field(default_factory=list)
    seconds: float = 0.0
    views: int = 0


def stored_settings(catalog: Catalog) -> IndexSettings | None:
    """The settings the index was built with (None before its first committed shard)."""
    raw = catalog.get_meta("settings")
    return IndexSettings.model_validate_json(raw) if raw else None


def requested_levels(job: IndexJob) -> list[Level] | None:
    """The job's --levels, checked (None: the index's own, else all)."""
    try:
        return parse_levels(job.levels) if job.levels else None
    except LevelError as exc:
        raise IndexSettingsError(f"--levels: {exc}") from None


def resolve_settings(stored: IndexSettings | None, job: IndexJob) -> IndexSettings:
    """Options given now, else those the index was built with (``stored``), else defaults; conflicts are errors."""
    base = stored or IndexSettings()
    levels = requested_levels(job) or base.levels
    try:
        parse_bands_option(job.bands)
    except ValueError as exc:
        raise IndexSettingsError(str(exc)) from None
    chosen = IndexSettings(model=job.model or base.model, levels=levels, dris=job.dris or base.dris,
                           objects=job.objects or base.objects, orientations=job.orientations or base.orientations,
                           bands=job.bands or base.bands)
    if stored is None:
        return chosen
    # The model is checked by what it loads (id and checksum), not by how it was spelled.
    for name, now, then in (("--levels", chosen.levels, stored.levels),
                            ("DRIS parameters", chosen.dris.model_dump(), stored.dris.model_dump()),
                            ("object parameters", chosen.objects.model_dump(), stored.objects.model_dump()),
                            ("--orientations", chosen.orientations, stored.orientations)):
        if now != then:
            raise IndexSettingsError(f"this index was built with {name} = {then}; got {now}. Index into a new directory instead.")
    return chosen


def check_model(stored: IndexSettings | None, settings: IndexSettings, encoder: Encoder) -> None:
    """Refuse a model other than the one the index was built with (by weights checksum; by id where none was stored)."""
    if stored is None:
        return
    same = stored.model_checksum == encoder.checksum if stored.model_checksum else stored.model_id == encoder.id
    if not same:
        raise IndexSettingsError(f"this index was built with --model {stored.model} ({stored.model_id}); "
                                 f"'{settings.model}' loads {encoder.id}. Index into a new directory instead.")


@dataclass
class HashedItems:
    new: list[tuple[SourceItem, str]] = field(default_factory=list)
    skipped: list[SkippedInput] = field(default_factory=list)
    already: int = 0
    known_captions: dict[str, SourceItem] = field(default_factory=dict)  # image id -> item, for new captions


def _hash_items(items: list[SourceItem], known: dict[str, str], progress: bool = True) -> HashedItems:
    """Content ids of new items, merging captions of duplicates. ``known``: file id -> indexed image id."""
    fresh: dict[str, SourceItem] = {}
    out = HashedItems()
    skipped = out.skipped
    for item in tqdm(items, desc="hashing", unit="file", leave=False, disable=not progress or len(items) < 1000):
        try:
            iid, file_ids = content_ids(item.paths, item.stacked)
        except OSError as exc:
            skipped.append(SkippedInput(path=item.display_path, reason=f"unreadable: {exc.strerror or exc}"))
            continue
        overlap = [known[f] for f in file_ids if f in known]
        if iid in known:
            out.already += 1
            if item.captions:
                out.known_captions.setdefault(known[iid], item)
        elif len(file_ids) > 1 and overlap and not item.stacked:  # a band file alone is grey: other pixels
            skipped.append(SkippedInput(path=item.display_path, reason=f"{len(overlap)} of its tiles are already indexed "
                                        f"(in image {overlap[0]}); the same pixels are not indexed twice"))
        elif iid in fresh:
            fresh[iid].captions += item.captions
            skipped.append(SkippedInput(path=item.display_path, reason=f"duplicate content of {fresh[iid].display_path} (indexed once, captions merged)"))
        else:
            if len(file_ids) > 1 and not item.stacked:
                item.extra["tile_ids"] = file_ids
            fresh[iid] = item
    out.new = [(item, iid) for iid, item in fresh.items()]
    return out


def progress_logging(progress: bool) -> AbstractContextManager[None]:
    """While progress bars may be shown, console log records are written above them (tqdm.write), not onto them."""
    return logging_redirect_tqdm() if progress else nullcontext()


class IndexingProgress:
    """The indexing bar. It counts every input of the run (indexed, already indexed, skipped), so a finished run
    shows n/n; its postfix says how many were skipped."""

    def __init__(self, total: int, done: int, skipped: int, enabled: bool) -> None:
        self.bar = tqdm(total=total, initial=done, unit="img", desc="indexing", disable=not enabled,
                        postfix={"skipped": skipped})

    def advance(self, done: int, skipped: int, views_per_s: float | None = None) -> None:
        """Move the bar to ``done`` inputs handled, ``skipped`` of them skipped."""
        rate = {} if views_per_s is None else {"views_per_s": f"{views_per_s:.1f}"}
        self.bar.set_postfix({"skipped": skipped} | rate, refresh=False)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        self.bar.close()


def check_catalog_identity(idx: IndexDir, catalog: Catalog) -> None:
    """Refuse a catalog that belongs to another index directory: cleaning up would delete this one's shards."""
    token_file = idx.root / "INDEX_ID"
    token = token_file.read_text().strip() if token_file.is_file() else None
    recorded = catalog.get_meta("index_id")
    if token and recorded and token != recorded:
        raise IndexSettingsError(f"catalog {catalog.url} belongs to another index directory, not {idx.root}")
    if recorded and not token:
        raise IndexSettingsError(f"catalog {catalog.url} belongs to another index directory; {idx.root} is new")
    if token and not recorded:
        if any(idx.shards.glob("*.parquet")):
            raise IndexSettingsError(f"catalog {catalog.url} has no record of the shards in {idx.root}; "
                                     "pass the --catalog this index was built with")
        catalog.set_meta("index_id", token)
    if not token:
        token = secrets.token_hex(8)
        catalog.set_meta("index_id", token)
        token_file.write_text(token + "\n")


def publish_version(idx: IndexDir, catalog: Catalog, encoder_info: ModelInfo, settings: IndexSettings,
                    flat_max: int = FLAT_MAX, hnsw_max: int = HNSW_MAX, fusion: FusionWeights | None = None) -> str:
    """Build FAISS indices over every committed shard and switch CURRENT to the new version.

    Fusion weights carry over from the current version (they may have been tuned); a new index
    takes ``fusion`` (the model's recommended weights), else the defaults.
    """
    previous = idx.manifest() if idx.current() else None
    fusion = previous.fusion if previous is not None else (fusion or DEFAULT_FUSION)
    shards = catalog.shards()
    names = [s.name for s in shards]
    version = idx.next_version()
    staging = idx.staging(version)
    for n in names:
        idx.link_shard(n, staging)
    view_files = [staging / "vectors" / f"{n}.views.parquet" for n in names]
    text_files = [staging / "vectors" / f"{n}.texts.parquet" for n in names]
    indices = build_all(staging, view_files, text_files, settings.levels, encoder_info.dim, flat_max, hnsw_max)
    counts = catalog.image_counts()
    manifest = IndexManifest(
        version=version, geoseek_version=geoseek.__version__, faiss_version=faiss.__version__, model=encoder_info,
        levels=settings.levels, dris=settings.dris, objects=settings.objects, fusion=fusion, images=counts["images"],
        captions=counts["captions"], views=ViewCounts(**{"global": counts["global"], "region": counts["region"], "object": counts["object"]}),
        indices=indices, view_shards=[f.name for f in view_files], text_shards=[f.name for f in text_files],
    )
    idx.write_manifest(staging, manifest)
    idx.publish(staging, version)
    catalog.mark_committed(names, version)
    return version


def run_index(srcs: list[Source], index: Path, *, encoder: Encoder | None = None, **options: object) -> IndexReport:
    """Index ``srcs`` into the index directory ``index``; ``options`` are IndexJob fields (see schemas.jobs).

    ``encoder`` may be passed already loaded (benchmarks, long-lived workers); it must match the job's model.
    """
    return run_job(IndexJob(sources=list(srcs), index=index, **options), encoder)


def run_job(job: IndexJob, encoder: Encoder | None = None) -> IndexReport:
    """Run one indexing job; see the module docstring for the guarantees."""
    start = time.perf_counter()
    requested_levels(job)
    # A bad dataset json raises here, before anything is written.
    items, skipped = discover(job.sources, job.mosaic, job.splits, job.image_dir, job.asset)
    idx = IndexDir(job.index)
    idx.create()
    with idx.lock(job.wait_s), ExitStack() as held:
        catalog = Catalog(job.catalog_url or idx.default_catalog_url)
        held.enter_context(catalog.writer_lock(str(idx.root.resolve()), job.wait_s))
        held.enter_context(progress_logging(job.progress))
        check_catalog_identity(idx, catalog)
        idx.clean_leftovers({s.name for s in catalog.shards()})
        stored = stored_settings(catalog)
        settings = resolve_settings(stored, job)
        hashed = _hash_items(items, catalog.known_file_ids(), job.progress)
        todo, already = hashed.new, hashed.already
        skipped += hashed.skipped
        # Orientations asked for now, else the index's own; a new index without either takes the model's recommendation.
        wanted = settings.orientations if job.orientations or stored else None
        if encoder is None:
            encoder = load_encoder(settings.model, device=job.device, batch_size=job.batch_size, orientations=wanted)
        elif wanted:
            encoder = encoder.oriented(wanted)
        check_model(stored, settings, encoder)
        settings = settings.model_copy(update={"model_id": encoder.id, "model_checksum": encoder.checksum,
                                               "orientations": encoder.orientations})
        info = ModelInfo(spec=settings.model, id=encoder.id, dim=encoder.dim, image_size=encoder.image_size,
                         checksum=encoder.checksum, orientations=encoder.orientations)
        log.info("%d new image(s), %d already indexed, %d skipped so far", len(todo), already, len(skipped))
        buffer = ShardBuffer(idx, catalog, encoder, time.strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(2),
                             {"settings": settings.model_dump_json()})
        if hashed.known_captions and (n := buffer.add_captions(hashed.known_captions)):
            log.info("%d new caption(s) for already-indexed images", n)
        views = indexed = 0
        # Every input counts: those skipped (now or while preparing) and those already indexed too.
        bar = IndexingProgress(len(todo) + already + len(skipped), already + len(skipped), len(skipped),
                               job.progress and bool(todo))
        rate = None
        for embedded in make_engine(job, encoder, settings).embedded(todo, skipped):
            buffer.add(embedded)
            indexed += len(embedded)
            if len(buffer.images) >= job.shard_size:
                views += buffer.flush()
                rate = views / max(1e-9, time.perf_counter() - start)
            bar.advance(already + indexed + len(skipped), len(skipped), rate)
        views += buffer.flush()
        bar.advance(already + indexed + len(skipped), len(skipped), rate)  # inputs skipped after the last batch
        bar.close()
        catalog.record_skipped(skipped)
        version = idx.current()
        if catalog.shards(state="pending") or version is None:
            version = publish_version(idx, catalog, info, settings, job.flat_max, job.hnsw_max, encoder.recommended_fusion)
    return IndexReport(version, indexed, already, skipped, time.perf_counter() - start, views)
