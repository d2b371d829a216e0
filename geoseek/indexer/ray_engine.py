"""The embed stage on Ray Data: `geoseek index ... --engine ray [--ray-address auto]`.

Reading, view planning and encoding run as ``map_batches`` over an actor pool: each actor loads
the model once (clip-retrieval's mapper shape) and turns a batch of source items into embedded
images; one actor per GPU when the cluster has GPUs, CPU actors otherwise. Sources are read in
parallel by the actors. The driver keeps what must stay single-writer: Parquet shards, the
catalog and FAISS, exactly as the local engine writes them, so the output is the same.
Order is preserved, so shards hold the same images in the same order as a local run.
"""
from __future__ import annotations

import logging
import pickle
from collections.abc import Iterator

import numpy as np

from geoseek.datasets.sources import SourceItem
from geoseek.extras import require
from geoseek.schemas import DRISParams, ObjectParams, SkippedInput
from geoseek.views.embed import EmbeddedImage, LazyCrops, ViewEmbedder, prepare_image
from geoseek.views.rasters import RasterError

log = logging.getLogger(__name__)


class EmbedActor:
    """A Ray Data mapper: the model is loaded once per actor; each call embeds one batch of images."""

    def __init__(self, model: str, device: str, levels: list[str], dris: str, objects: str, batch_size: int | None,
                 bands: str | None = None, orientations: int = 1) -> None:
        from geoseek.models import load_encoder

        self.encoder = load_encoder(model, device=device, batch_size=batch_size, orientations=orientations)
        self.embedder = ViewEmbedder(self.encoder, levels, ObjectParams.model_validate_json(objects))
        self.dris = DRISParams.model_validate_json(dris)
        self.regions = "region" in levels
        self.bands = bands

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        """batch["task"]: pickled (SourceItem, image_id); returns per input a pickled EmbeddedImage or a skip reason."""
        prepared, slots, reasons = [], [], []
        for blob in batch["task"]:
            item, image_id = pickle.loads(blob)
            try:
                prepared.append(prepare_image(item, image_id, self.encoder.image_size, self.dris, self.regions, self.bands))
                slots.append(len(prepared) - 1)
                reasons.append("")
            except RasterError as exc:
                slots.append(-1)
                reasons.append(str(exc) or "unreadable")
        small = [p for p in prepared if not isinstance(p.crops, LazyCrops)]
        done = dict(zip((id(p) for p in small), self.embedder(small) if small else []))
        for p in prepared:  # large images (crops read while encoding) one by one: a bad window skips only that image
            if isinstance(p.crops, LazyCrops):
                try:
                    done[id(p)] = self.embedder([p])[0]
                except RasterError as exc:
                    done[id(p)] = str(exc) or "unreadable"
        out, skipped = [], []
        for s, reason in zip(slots, reasons):
            result = done[id(prepared[s])] if s >= 0 else reason
            out.append(pickle.dumps(result) if not isinstance(result, str) else b"")
            skipped.append(result if isinstance(result, str) else "")
        return {"embedded": out, "skipped": skipped}


def ray_embedded(todo: list[tuple[SourceItem, str]], *, model: str, device: str, levels: list[str], dris: DRISParams,
                 objects: ObjectParams, batch_size: int | None, address: str | None = None, bands: str | None = None,
                 orientations: int = 1, skipped: list[SkippedInput]) -> Iterator[EmbeddedImage]:
    """Embedded images of ``todo`` in input order, computed on Ray; unreadable inputs go to ``skipped``.

    ``address``: a Ray cluster ("auto" joins the running one); None starts a local Ray when none is running.
    """
    ray = require("ray", "ray", "Ray indexing jobs (--engine ray)")
    require("ray.data", "ray", "Ray indexing jobs (--engine ray)")  # ray[data]: pyarrow, pandas

    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    ray.data.DataContext.get_current().execution_options.preserve_order = True
    gpus = int(ray.cluster_resources().get("GPU", 0)) if device != "cpu" else 0
    actors = gpus or max(1, int(ray.cluster_resources().get("CPU", 1)) // 2)
    actor_device = "cuda" if gpus else "cpu"
    log.info("ray: %d %s actor(s) for %d image(s)", actors, actor_device, len(todo))
    ds = ray.data.from_items([{"task": pickle.dumps(t)} for t in todo])
    ds = ds.map_batches(EmbedActor, batch_format="numpy", batch_size=max(1, min(16, batch_size or 16)), concurrency=actors,
                        num_gpus=1 if gpus else 0, num_cpus=0 if gpus else 1,
                        fn_constructor_kwargs={"model": model, "device": actor_device, "levels": list(levels),
                                               "dris": dris.model_dump_json(), "objects": objects.model_dump_json(),
                                               "batch_size": batch_size, "bands": bands, "orientations": orientations})
    for (item, _), row in zip(todo, ds.iter_rows()):
        if row["skipped"]:
            skipped.append(SkippedInput(path=item.display_path, reason=row["skipped"]))
            log.warning("skipped %s: %s", item.display_path, row["skipped"])
            continue
        yield pickle.loads(row["embedded"])
