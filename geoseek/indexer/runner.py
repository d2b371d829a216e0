"""Run an indexing job: discover -> dedupe by content -> prepare/embed -> shard -> publish a version.

Resumable: each shard is committed to the catalog after its files are on disk, so a killed
run loses at most the shard in flight; the next run skips every committed image (by content
hash), includes committed-but-unpublished shards, and publishes one new version.
"""
from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Iterator
from contextlib import ExitStack
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np
from tqdm import tqdm

import geoseek
from geoseek.indexer.builder import FLAT_MAX, HNSW_MAX, build_all
from geoseek.index.catalog import Catalog, CaptionRow, ImageRow, ShardRow
from geoseek.views.embed import VIEW_COLUMNS, EmbeddedImage, PreparedImage, ViewEmbedder, prepare_image
from geoseek.views.rasters import RasterError
from geoseek.datasets.sources import SourceItem, content_ids, discover
from geoseek.index.layout import IndexDir
from geoseek.index.shards import write_shard
from geoseek.models import Encoder, load_encoder
from geoseek.schemas import LEVELS, DRISParams, FusionWeights, IndexManifest, ModelInfo, ObjectParams, SkippedInput, ViewCounts

log = logging.getLogger(__name__)


class IndexSettingsError(ValueError):
    """Options that contradict how an existing index was built."""


@dataclass
class IndexSettings:
    model: str = "geoseek-default"
    levels: list[str] = field(default_factory=lambda: list(LEVELS))
    dris: DRISParams = field(default_factory=DRISParams)
    objects: ObjectParams = field(default_factory=ObjectParams)

    def to_json(self, model_id: str, checksum: str | None) -> str:
        return json.dumps({"model": self.model, "model_id": model_id, "model_checksum": checksum, "levels": self.levels,
                           "dris": self.dris.model_dump(), "objects": self.objects.model_dump()})


@dataclass
class IndexReport:
    version: str | None
    new_images: int = 0
    already_indexed: int = 0
    skipped: list[SkippedInput] = field(default_factory=list)
    seconds: float = 0.0
    views: int = 0


def stored_settings(catalog: Catalog) -> dict | None:
    raw = catalog.get_meta("settings")
    return json.loads(raw) if raw else None


def resolve_settings(catalog: Catalog, model: str | None, levels: list[str] | None,
                     dris: DRISParams | None, objects: ObjectParams | None) -> IndexSettings:
    """Options given now, else those the index was built with, else defaults; conflicts are errors."""
    stored = stored_settings(catalog)
    if stored is None:
        s = IndexSettings()
        return IndexSettings(model or s.model, levels or s.levels, dris or s.dris, objects or s.objects)
    chosen = IndexSettings(model or stored["model"], levels or stored["levels"],
                           dris or DRISParams(**stored["dris"]), objects or ObjectParams(**stored["objects"]))
    # The model is checked by what it loads (id and checksum), not by how it was spelled.
    for name, now, then in (("--levels", chosen.levels, stored["levels"]),
                            ("DRIS parameters", chosen.dris.model_dump(), stored["dris"]),
                            ("object parameters", chosen.objects.model_dump(), stored["objects"])):
        if now != then:
            raise IndexSettingsError(f"this index was built with {name} = {then}; got {now}. Index into a new directory instead.")
    return chosen


@dataclass
class HashedItems:
    new: list[tuple[SourceItem, str]] = field(default_factory=list)
    skipped: list[SkippedInput] = field(default_factory=list)
    already: int = 0
    known_captions: dict[str, SourceItem] = field(default_factory=dict)  # image id -> item, for new captions


def _hash_items(items: list[SourceItem], known: dict[str, str]) -> HashedItems:
    """Content ids of new items, merging captions of duplicates. ``known``: file id -> indexed image id."""
    fresh: dict[str, SourceItem] = {}
    out = HashedItems()
    skipped = out.skipped
    for item in tqdm(items, desc="hashing", unit="file", leave=False, disable=len(items) < 1000):
        try:
            iid, file_ids = content_ids(item.paths)
        except OSError as exc:
            skipped.append(SkippedInput(path=item.display_path, reason=f"unreadable: {exc.strerror or exc}"))
            continue
        overlap = [known[f] for f in file_ids if f in known]
        if iid in known:
            out.already += 1
            if item.captions:
                out.known_captions.setdefault(known[iid], item)
        elif len(file_ids) > 1 and overlap:
            skipped.append(SkippedInput(path=item.display_path, reason=f"{len(overlap)} of its tiles are already indexed "
                                        f"(in image {overlap[0]}); the same pixels are not indexed twice"))
        elif iid in fresh:
            fresh[iid].captions += item.captions
            skipped.append(SkippedInput(path=item.display_path, reason=f"duplicate content of {fresh[iid].display_path} (indexed once, captions merged)"))
        else:
            if len(file_ids) > 1:
                item.extra["tile_ids"] = file_ids
            fresh[iid] = item
    out.new = [(item, iid) for iid, item in fresh.items()]
    return out


def _prepared_stream(todo: list[tuple[SourceItem, str]], side: int, settings: IndexSettings, workers: int,
                     skipped: list[SkippedInput]) -> Iterator[PreparedImage]:
    """Prepare images in threads, in order, with a bounded look-ahead; bad inputs go to ``skipped``."""
    regions = "region" in settings.levels
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        window = max(4, 4 * workers)
        futures = [pool.submit(prepare_image, it, iid, side, settings.dris, regions) for it, iid in todo[:window]]
        nxt = len(futures)
        for i in range(len(todo)):
            try:
                yield futures[i].result()
            except RasterError as exc:
                skipped.append(SkippedInput(path=todo[i][0].display_path, reason=str(exc)))
                log.warning("skipped %s: %s", todo[i][0].display_path, exc)
            futures[i] = None  # free the crops
            if nxt < len(todo):
                futures.append(pool.submit(prepare_image, *todo[nxt], side, settings.dris, regions))
                nxt += 1


def _embedded_stream(todo: list[tuple[SourceItem, str]], encoder: Encoder, settings: IndexSettings, batch_size: int,
                     workers: int, skipped: list[SkippedInput], engine: str, ray_address: str | None,
                     device: str) -> Iterator[list[EmbeddedImage]]:
    """Embedded images in input order, in batches: the local engine (threads + this process's encoder) or Ray."""
    if engine == "ray":
        from geoseek.indexer.ray_engine import ray_embedded

        for e in ray_embedded(todo, model=settings.model, device=device, levels=settings.levels, dris=settings.dris,
                              objects=settings.objects, batch_size=batch_size, address=ray_address, skipped=skipped):
            yield [e]
        return
    embedder = ViewEmbedder(encoder, settings.levels, settings.objects)
    batch: list[PreparedImage] = []
    n_views = 0
    for prepared in _prepared_stream(todo, encoder.image_size, settings, workers, skipped):
        batch.append(prepared)
        n_views += len(prepared.nodes)
        if n_views >= batch_size:
            yield embedder(batch)
            batch, n_views = [], 0
    if batch:
        yield embedder(batch)


class ShardBuffer:
    """Accumulates embedded images and writes/commits them as one shard."""

    def __init__(self, idx: IndexDir, catalog: Catalog, encoder: Encoder, run: str, meta: dict[str, str]) -> None:
        self.idx, self.catalog, self.encoder, self.run = idx, catalog, encoder, run
        self.meta = meta  # written with the first shard, so a run that commits nothing decides nothing
        self.images: list[EmbeddedImage] = []
        self.extra_captions: list[CaptionRow] = []
        self.seq = 0
        self.text_cache: dict[str, np.ndarray] = {}

    def add(self, embedded: list[EmbeddedImage]) -> None:
        self.images += embedded

    def add_captions(self, known: dict[str, SourceItem]) -> int:
        """Queue captions of already-indexed images that the catalog does not have yet; returns how many."""
        existing = self.catalog.captions_of(list(known))
        for image_id, item in known.items():
            have = existing.get(image_id, [])
            seen = set(have)
            for text in item.captions:
                if text not in seen:
                    seen.add(text)
                    self.extra_captions.append(CaptionRow(text_id=f"{image_id}:{len(have)}", image_id=image_id, text=text,
                                                          split=item.split))
                    have = have + [text]
        return len(self.extra_captions)

    def _encode_texts(self, texts: list[str]) -> np.ndarray:
        if len(self.text_cache) > 500_000:  # bounded: repeated captions are the common case, not the rule
            self.text_cache.clear()
        missing = sorted({t for t in texts if t not in self.text_cache})
        for t, v in zip(missing, self.encoder.encode_texts(missing)):
            self.text_cache[t] = v
        return np.stack([self.text_cache[t] for t in texts]) if texts else np.zeros((0, self.encoder.dim), np.float32)

    def flush(self) -> int:
        """Write and commit the buffered images as one shard; returns views written."""
        if not self.images and not self.extra_captions:
            return 0
        name = f"{self.run}-{self.seq:05d}"
        self.seq += 1
        views = {k: [v for e in self.images for v in e.rows[k]] for k in VIEW_COLUMNS}
        vvecs = np.concatenate([e.vectors for e in self.images]) if self.images else np.zeros((0, self.encoder.dim), np.float32)
        texts = {"text_id": [], "image_id": [], "text": [], "split": []}
        images, captions = [], []
        for c in self.extra_captions:
            c.shard = name
            for key, val in zip(texts, (c.text_id, c.image_id, c.text, c.split)):
                texts[key].append(val)
            captions.append(c)
        for e in self.images:
            p = e.prepared
            for k, text in enumerate(p.item.captions):
                tid = f"{p.image_id}:{k}"
                for key, val in zip(texts, (tid, p.image_id, text, p.item.split)):
                    texts[key].append(val)
                captions.append(CaptionRow(text_id=tid, image_id=p.image_id, text=text, split=p.item.split, shard=name))
            g = p.georef
            images.append(ImageRow(
                image_id=p.image_id, path=p.item.display_path, collection=p.item.collection, split=p.item.split,
                width=p.width, height=p.height, format=p.format, crs=g.crs if g else None,
                bounds=list(g.bounds) if g else None, bounds_wgs84=list(g.bounds_wgs84) if g else None,
                gsd=list(g.gsd) if g else None, datetime=p.datetime, n_global=e.counts["global"],
                n_region=e.counts["region"], n_object=e.counts["object"], shard=name,
                extra={**p.item.extra, "tiles": [str(x) for x in p.item.paths]} if len(p.item.paths) > 1 else p.item.extra))
        tvecs = self._encode_texts(texts["text"])
        write_shard(self.idx.shards, name, views, vvecs, texts, tvecs, self.encoder.dim)
        self.catalog.commit_shard(ShardRow(name=name, n_images=len(images), n_views=len(vvecs), n_captions=len(captions)),
                                  images, captions, self.meta)
        self.images, self.extra_captions, self.meta = [], [], {}
        return len(vvecs)


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
    fusion = previous.fusion if previous is not None else (fusion or FusionWeights())
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
    (staging / "manifest.json").write_text(manifest.model_dump_json(indent=2, by_alias=True))
    idx.publish(staging, version)
    catalog.mark_committed(names, version)
    return version


def run_index(srcs: list[Path], index: Path, *, model: str | None = None, levels: list[str] | None = None,
              batch_size: int = 64, device: str = "auto", shard_size: int = 512, catalog_url: str | None = None,
              dris: DRISParams | None = None, objects: ObjectParams | None = None, mosaic: bool = True,
              workers: int = 2, flat_max: int = FLAT_MAX, hnsw_max: int = HNSW_MAX, progress: bool = True,
              encoder: Encoder | None = None, splits: list[str] | None = None, wait_s: float = 0.0,
              engine: str = "local", ray_address: str | None = None, image_dir: Path | None = None) -> IndexReport:
    """Index ``srcs`` into the index directory ``index``; see module docstring for the guarantees.

    ``splits`` keeps only those splits of dataset json and split-foldered sources (e.g. a test-split benchmark index).
    ``image_dir``: the folder holding the dataset json sources' images (default: found by convention).
    ``wait_s``: how long to wait for another indexer of the same index to finish (0: refuse at once).
    ``engine``: "local" (threads in this process) or "ray" (Ray Data actors; ``ray_address`` joins a cluster).

    ``encoder`` may be passed already loaded (benchmarks, long-lived workers); it must match ``model``.
    """
    start = time.perf_counter()
    if levels is not None:
        unknown = [lv for lv in levels if lv not in LEVELS]
        if unknown or "global" not in levels:
            raise IndexSettingsError(f"--levels must include 'global' and only use {', '.join(LEVELS)}; got {','.join(levels)}")
    items, skipped = discover(srcs, mosaic, splits, image_dir)  # a bad dataset.json raises here, before anything is written
    idx = IndexDir(index)
    idx.create()
    with idx.lock(wait_s), ExitStack() as held:
        catalog = Catalog(catalog_url or idx.default_catalog_url)
        held.enter_context(catalog.writer_lock(str(idx.root.resolve()), wait_s))
        check_catalog_identity(idx, catalog)
        idx.clean_leftovers({s.name for s in catalog.shards()})
        settings = resolve_settings(catalog, model, levels, dris, objects)
        hashed = _hash_items(items, catalog.known_file_ids())
        todo, already = hashed.new, hashed.already
        skipped += hashed.skipped
        if encoder is None:
            encoder = load_encoder(settings.model, device=device, batch_size=batch_size)
        stored = stored_settings(catalog)
        # Identity is the weights' checksum; the id (which may embed a path) only where no checksum was stored.
        same = stored.get("model_checksum") == encoder.checksum if stored and stored.get("model_checksum") \
            else not stored or stored["model_id"] == encoder.id
        if not same:
            raise IndexSettingsError(f"this index was built with --model {stored['model']} ({stored['model_id']}); "
                                     f"'{settings.model}' loads {encoder.id}. Index into a new directory instead.")
        info = ModelInfo(spec=settings.model, id=encoder.id, dim=encoder.dim, image_size=encoder.image_size, checksum=encoder.checksum)
        log.info("%d new image(s), %d already indexed, %d skipped so far", len(todo), already, len(skipped))
        buffer = ShardBuffer(idx, catalog, encoder, time.strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(2),
                             {"settings": settings.to_json(encoder.id, encoder.checksum)})
        if hashed.known_captions and (n := buffer.add_captions(hashed.known_captions)):
            log.info("%d new caption(s) for already-indexed images", n)
        views = indexed = 0
        bar = tqdm(total=len(todo), unit="img", desc="indexing", disable=not progress or not todo)
        for embedded in _embedded_stream(todo, encoder, settings, batch_size, workers, skipped, engine, ray_address, device):
            buffer.add(embedded)
            indexed += len(embedded)
            bar.update(len(embedded))
            if len(buffer.images) >= shard_size:
                views += buffer.flush()
                bar.set_postfix(views_per_s=f"{views / max(1e-9, time.perf_counter() - start):.1f}")
        views += buffer.flush()
        bar.close()
        catalog.record_skipped(skipped)
        version = idx.current()
        if catalog.shards(state="pending") or version is None:
            fusion = FusionWeights(**encoder.recommended_fusion) if encoder.recommended_fusion else None
            version = publish_version(idx, catalog, info, settings, flat_max, hnsw_max, fusion)
    return IndexReport(version, indexed, already, skipped, time.perf_counter() - start, views)
