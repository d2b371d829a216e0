"""Embedding engines: where images are read, planned and encoded. One interface, two engines.

- ``LocalEngine``: threads in this process prepare images; this process's encoder embeds them.
- ``RayEngine``: Ray Data actors (one per GPU, or CPU workers) do both (see ray_engine).

Both yield embedded images in input order, so the shards a run writes do not depend on the engine.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from geoseek.datasets.sources import SourceItem
from geoseek.models import Encoder
from geoseek.schemas import SkippedInput
from geoseek.schemas.errors import RasterError
from geoseek.schemas.jobs import IndexJob, IndexSettings
from geoseek.views.embed import (
    EmbeddedImage,
    LazyCrops,
    PreparedImage,
    ViewEmbedder,
    prepare_image,
)

log = logging.getLogger(__name__)

Todo = list[tuple[SourceItem, str]]  # (source item, its content id) in indexing order


class EmbedEngine(Protocol):
    def embedded(self, todo: Todo, skipped: list[SkippedInput]) -> Iterator[list[EmbeddedImage]]:
        """Embedded images of ``todo`` in input order, in batches; unreadable inputs are appended to ``skipped``."""
        ...


class LocalEngine:
    """Threads prepare images with a bounded look-ahead; the encoder embeds ~``batch_size`` views at a time."""

    def __init__(self, encoder: Encoder, settings: IndexSettings, batch_size: int, workers: int) -> None:
        self.encoder, self.settings, self.batch_size, self.workers = encoder, settings, batch_size, workers

    def prepared(self, todo: Todo, skipped: list[SkippedInput]) -> Iterator[PreparedImage]:
        side, dris, regions = self.encoder.image_size, self.settings.dris, "region" in self.settings.levels
        bands = self.settings.bands
        with ThreadPoolExecutor(max_workers=max(1, self.workers)) as pool:
            window = max(4, 4 * self.workers)
            futures = [pool.submit(prepare_image, it, iid, side, dris, regions, bands) for it, iid in todo[:window]]
            nxt = len(futures)
            for i in range(len(todo)):
                try:
                    yield futures[i].result()
                except RasterError as exc:
                    skipped.append(SkippedInput(path=todo[i][0].display_path, reason=str(exc)))
                    log.warning("skipped %s: %s", todo[i][0].display_path, exc)
                futures[i] = None  # free the crops
                if nxt < len(todo):
                    futures.append(pool.submit(prepare_image, *todo[nxt], side, dris, regions, bands))
                    nxt += 1

    def embedded(self, todo: Todo, skipped: list[SkippedInput]) -> Iterator[list[EmbeddedImage]]:
        embedder = ViewEmbedder(self.encoder, self.settings.levels, self.settings.objects)
        batch: list[PreparedImage] = []
        n_views = 0
        for prepared in self.prepared(todo, skipped):
            if isinstance(prepared.crops, LazyCrops):  # a large image: its crops are read while it is encoded
                if batch:
                    yield embedder(batch)
                    batch, n_views = [], 0
                try:
                    yield embedder([prepared])
                except RasterError as exc:  # a window that cannot be read skips the image, not the run
                    skipped.append(SkippedInput(path=prepared.item.display_path, reason=str(exc)))
                    log.warning("skipped %s: %s", prepared.item.display_path, exc)
                continue
            batch.append(prepared)
            n_views += len(prepared.nodes)
            if n_views >= self.batch_size:
                yield embedder(batch)
                batch, n_views = [], 0
        if batch:
            yield embedder(batch)


class RayEngine:
    """Ray Data actors load the model once each and embed batches; the driver only writes."""

    def __init__(self, settings: IndexSettings, device: str, batch_size: int | None, address: str | None) -> None:
        self.settings, self.device, self.batch_size, self.address = settings, device, batch_size, address

    def embedded(self, todo: Todo, skipped: list[SkippedInput]) -> Iterator[list[EmbeddedImage]]:
        from geoseek.indexer.ray_engine import (
            ray_embedded,  # Ray loads only when asked for
        )

        s = self.settings
        for e in ray_embedded(todo, model=s.model, device=self.device, levels=s.levels, dris=s.dris, objects=s.objects, bands=s.bands,
                              orientations=s.orientations, batch_size=self.batch_size, address=self.address, skipped=skipped):
            yield [e]


def make_engine(job: IndexJob, encoder: Encoder, settings: IndexSettings) -> EmbedEngine:
    """The engine ``job.engine`` names, configured from the job."""
    engines = {
        "local": lambda: LocalEngine(encoder, settings, encoder.batch_size, job.workers),
        "ray": lambda: RayEngine(settings, job.device, job.batch_size, job.ray_address),
    }
    return engines[job.engine]()
