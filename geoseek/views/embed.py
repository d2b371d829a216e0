"""The embed stage: prepare images (open, validate, plan views, crop) and encode their views.

``prepare_image`` is I/O and pixel work, run in threads; ``ViewEmbedder`` loads the encoder
once and maps a batch of prepared images to view rows -- the mapper shape a distributed
runner wants.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from geoseek.datasets.sources import SourceItem
from geoseek.models import Encoder
from geoseek.schemas import DRISParams, Georef, ObjectParams
from geoseek.views.objects import views_of_grid
from geoseek.views.planner import ViewNode, plan_views, thumbnail_side
from geoseek.views.rasters import RasterError, open_raster, view_bounds


LAZY_VIEWS = 256  # an image with more views than this has its crops read while it is encoded, chunk by chunk


class LazyCrops:
    """The crops of a large image, read from its (still open) raster when asked for, then let go.

    Holding every crop of a 10,000 px scene (about 2,000 views x 150 KB) would cost 300 MB; read
    chunk by chunk while encoding, a scene costs one chunk. The raster is closed by ``close``.
    """

    def __init__(self, raster, nodes: list[ViewNode], side: int) -> None:
        self.raster, self.nodes, self.side = raster, nodes, side

    def __len__(self) -> int:
        return len(self.nodes)

    def __getitem__(self, j: int) -> Image.Image:
        return self.raster.read(self.nodes[j].window, (self.side, self.side))

    def close(self) -> None:
        _close(self.raster)


@dataclass
class PreparedImage:
    item: SourceItem
    image_id: str
    width: int
    height: int
    format: str
    georef: Georef | None
    datetime: str | None
    nodes: list[ViewNode]
    crops: list[Image.Image] | LazyCrops  # one encoder-sized RGB crop per node (read on demand for large images)
    bounds: list[tuple | None]  # WGS84 bounds per node window
    display: dict | None = None  # the Display (bands, 8-bit scaling) it was read through, as JSON
    vrt: str | None = None  # a band stack's VRT XML (``geoseek.views.stack``), written into the index as its path


@dataclass
class EmbeddedImage:
    prepared: PreparedImage
    rows: dict[str, list] = field(default_factory=dict)
    vectors: np.ndarray | None = None
    counts: dict[str, int] = field(default_factory=dict)


def prepare_image(item: SourceItem, image_id: str, side: int, dris: DRISParams, regions: bool,
                  bands: str | None = None) -> PreparedImage:
    """Open and validate the raster, plan its views and crop them.

    ``bands``: the ``--bands`` option (None: from the file; see ``geoseek.views.bands``).

    Raises RasterError for every failure, so one odd file is skipped with a reason instead of
    ending the run (e.g. a CRS that cannot be expressed in WGS84, pixels PIL cannot resample).
    """
    try:
        return _prepare(item, image_id, side, dris, regions, bands)
    except RasterError:
        raise
    except Exception as exc:  # noqa: BLE001 - reported per file, the run goes on
        raise RasterError(f"unreadable: {type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}") from exc


def _prepare(item: SourceItem, image_id: str, side: int, dris: DRISParams, regions: bool,
             bands: str | None) -> PreparedImage:
    raster = open_raster(list(item.paths), bands=bands, stacked=item.stacked)
    try:
        tside = thumbnail_side(raster.width, raster.height, side, dris)
        thumb = raster.thumbnail(tside)
        valid = raster.valid_mask(tside)
        if valid is not None and valid.shape != thumb.shape[:2]:  # rounding differs by a pixel: fit it
            valid = np.asarray(Image.fromarray(valid).resize((thumb.shape[1], thumb.shape[0]), Image.NEAREST))
        if valid is not None and not valid.any():
            raise RasterError("no valid pixels: every pixel is nodata or masked")
        nodes = plan_views(raster.width, raster.height, side, thumb, dris, valid)
        if not regions:
            nodes = nodes[:1]
        bounds = [view_bounds(raster, n.window) for n in nodes]
        if len(nodes) > LAZY_VIEWS:
            crops: list[Image.Image] | LazyCrops = LazyCrops(raster, nodes, side)
        else:
            crops = [raster.read(n.window, (side, side)) for n in nodes]
        prepared = PreparedImage(item, image_id, raster.width, raster.height, raster.format, raster.georef,
                                 raster.datetime, nodes, crops, bounds, raster.display.model_dump(mode="json"),
                                 getattr(raster, "vrt_xml", None))
    except BaseException:
        _close(raster)
        raise
    if not isinstance(prepared.crops, LazyCrops):
        _close(raster)
    return prepared


def _close(raster) -> None:
    close = getattr(raster, "close", None)
    if close:
        close()


VIEW_COLUMNS = ("node_id", "image_id", "level", "parent", "depth", "bbox", "node_box", "complexity", "saliency",
                "west", "south", "east", "north")


class ViewEmbedder:
    """Encodes every view of a batch of prepared images and derives object views."""

    def __init__(self, encoder: Encoder, levels: list[str], objects: ObjectParams) -> None:
        self.encoder = encoder
        self.levels = levels
        self.objects = objects

    def __call__(self, batch: list[PreparedImage]) -> list[EmbeddedImage]:
        # Encoded in chunks of whole encoder batches (the batches, hence the vectors, are those of one
        # call), each chunk's object views derived at once: a large scene's crops (read lazily) and
        # dense patch grids are never all held together.
        flat = [(p, j) for p in batch for j in range(len(p.nodes))]
        chunk = 4 * max(1, int(getattr(self.encoder, "batch_size", 64)))
        pooled_parts, objects = [], []
        try:
            for start in range(0, len(flat), chunk):
                part = flat[start : start + chunk]
                crops = [p.crops[j] for p, j in part]
                if "object" in self.levels:
                    pooled, dense = self.encoder.encode_images_and_dense(crops)
                    objects += [views_of_grid(grid, vec, p.nodes[j].window, self.objects)
                                for (p, j), vec, grid in zip(part, pooled, dense)]
                else:  # no object views: the dense grid would be computed for nothing
                    pooled = self.encoder.encode_images(crops)
                pooled_parts.append(pooled)
        finally:
            for p in batch:  # the shard buffer keeps the rows until it is written, not the pixels
                if isinstance(p.crops, LazyCrops):
                    p.crops.close()
                p.crops = []
        pooled = np.concatenate(pooled_parts) if pooled_parts else np.zeros((0, self.encoder.dim), np.float32)
        out, start = [], 0
        for p in batch:
            n = len(p.nodes)
            out.append(self._rows(p, pooled[start : start + n], objects[start : start + n] if objects else None))
            start += n
        return out

    def _rows(self, p: PreparedImage, pooled: np.ndarray, objects: list | None) -> EmbeddedImage:
        """View rows and vectors of one image; ``objects``: per node, its object views (None: no object level)."""
        rows: dict[str, list] = {c: [] for c in VIEW_COLUMNS}
        vectors = []

        def add(node_id, level, parent, depth, bbox, node_box, complexity, saliency, bounds, vec):
            west, south, east, north = bounds if bounds else (None, None, None, None)
            for key, val in zip(VIEW_COLUMNS, (node_id, p.image_id, level, parent, depth, list(bbox), list(node_box),
                                               complexity, saliency, west, south, east, north)):
                rows[key].append(val)
            vectors.append(vec)

        counts = {"global": 0, "region": 0, "object": 0}
        for node, vec, bounds in zip(p.nodes, pooled, p.bounds):
            level = "global" if node.index == 0 else "region"
            tag = "g" if node.index == 0 else f"r{node.index}"
            add(f"{p.image_id}/{tag}", level, node.parent, node.depth, node.window, node.box, node.complexity, 0.0, bounds, vec)
            counts[level] += 1
        if objects is not None:
            for node, found in zip(p.nodes, objects):
                for obj in found:
                    add(f"{p.image_id}/o{counts['object']}", "object", node.index, node.depth + 1, obj.box, obj.box,
                        0.0, obj.saliency, self._object_bounds(p, node, obj.box), obj.vector)
                    counts["object"] += 1
        return EmbeddedImage(p, rows, np.stack(vectors).astype(np.float32), counts)

    @staticmethod
    def _object_bounds(p: PreparedImage, node: ViewNode, box) -> tuple | None:
        """Interpolate an object's WGS84 bounds inside its view's bounds (views are small, so linear is exact enough)."""
        b = p.bounds[node.index]
        if b is None:
            return None
        x0, y0, x1, y1 = node.window
        west, south, east, north = b
        fx = lambda x: west + (east - west) * (x - x0) / max(1, x1 - x0)  # noqa: E731
        fy = lambda y: north - (north - south) * (y - y0) / max(1, y1 - y0)  # noqa: E731
        return (fx(box[0]), fy(box[3]), fx(box[2]), fy(box[1]))
