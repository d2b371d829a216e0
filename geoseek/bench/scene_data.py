"""Inputs of ``geoseek bench scenes``: COCO-boxed scenes mapped to index image ids, and the class phrases.

Any COCO json works (NWPU VHR-10 as shipped; DOTA, DIOR or xView converted to COCO): ``bbox`` is
x, y, w, h in pixels; ``file_name`` is relative to the image folder. An image is matched to the
index by content hash, the id the indexer assigns, so the index must be built from the same files.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from geoseek.bench.recall import BenchError
from geoseek.datasets.sources import content_ids
from geoseek.extras import require
from geoseek.search.state import IndexState

log = logging.getLogger(__name__)

# Three phrasings per NWPU VHR-10 class: the bare name, a scene description and an aerial-view one,
# so a class's AP is not the luck of one wording.
PHRASES: dict[str, tuple[str, ...]] = {
    "airplane": ("an airplane", "airplanes parked at an airport", "an aerial view of planes"),
    "ship": ("a ship", "ships at sea", "an aerial view of boats on the water"),
    "storage_tank": ("a storage tank", "round oil storage tanks", "an aerial view of white cylindrical tanks"),
    "baseball_diamond": ("a baseball diamond", "a baseball field", "an aerial view of a baseball field with a sandy infield"),
    "tennis_court": ("a tennis court", "tennis courts next to each other", "an aerial view of a tennis court"),
    "basketball_court": ("a basketball court", "an outdoor basketball court", "an aerial view of a basketball court"),
    "ground_track_field": ("a ground track field", "a running track around a football field",
                           "an aerial view of an athletics track"),
    "harbor": ("a harbor", "a harbour with piers and boats", "an aerial view of a port with docks"),
    "bridge": ("a bridge", "a bridge over a river", "an aerial view of a road bridge across the water"),
    "vehicle": ("a vehicle", "cars on a road", "an aerial view of cars in a parking lot"),
}
# For categories of other COCO sets (DOTA, DIOR, xView) that PHRASES does not cover.
TEMPLATES = ("a {name}", "{name}s seen from above", "an aerial view of a {name}")


@dataclass
class Scenes:
    """The gallery: one entry per distinct image (COCO order), with its boxes per class."""

    image_ids: list[str]  # index image ids (content hashes)
    files: list[str]  # COCO file_name of each
    sizes: dict[str, tuple[int, int]]  # image id -> COCO (width, height) px
    classes: list[str]  # category names, COCO category order
    boxes: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # class -> image id -> (m, 4) float64 xyxy px
    n_boxes: int = 0

    def relevant(self, cls: str) -> set[str]:
        """Image ids holding at least one box of ``cls``."""
        return set(self.boxes.get(cls, {}))


def default_images_dir(coco: Path) -> Path:
    """``images/`` beside the COCO json when it exists, else the json's own folder."""
    beside = Path(coco).parent / "images"
    return beside if beside.is_dir() else Path(coco).parent


def _read_coco(coco: Path):
    """pycocotools COCO of ``coco``; it prints progress to stdout, which would corrupt the JSON the CLI prints there."""
    COCO = require("pycocotools.coco", "bench", "COCO boxes (geoseek bench scenes)").COCO

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return COCO(str(coco))
    except (OSError, ValueError, KeyError, TypeError, AssertionError) as exc:
        raise BenchError(f"{coco}: not a readable COCO json ({type(exc).__name__}: {exc})") from None


def load_scenes(coco: Path, images: Path | None = None) -> Scenes:
    """Read a COCO json, hash its images (as the indexer does) and group its boxes by class and image.

    ``images``: folder the ``file_name`` entries are relative to (default: default_images_dir).
    Raises BenchError on an unreadable file, a missing image or an empty gallery.
    """
    api = _read_coco(Path(coco))
    folder = Path(images) if images is not None else default_images_dir(Path(coco))
    cats = {c["id"]: c["name"] for c in api.loadCats(api.getCatIds())}
    entries = api.loadImgs(api.getImgIds())
    if not entries:
        raise BenchError(f"{coco}: no images")
    absent = [e["file_name"] for e in entries if not (folder / e["file_name"]).is_file()]
    if absent:
        raise BenchError(f"{len(absent)} COCO image(s) are not in {folder} (e.g. {absent[0]}); pass --images DIR")
    scenes = Scenes(image_ids=[], files=[], sizes={}, classes=list(cats.values()))
    by_coco: dict[int, str] = {}
    for e in entries:
        iid = content_ids((folder / e["file_name"],))[0]
        by_coco[e["id"]] = iid
        if iid in scenes.sizes:  # the same pixels twice: one scene, the boxes of both entries
            log.warning("%s has the same content as an earlier COCO image; scored as one scene", e["file_name"])
            continue
        scenes.image_ids.append(iid)
        scenes.files.append(e["file_name"])
        scenes.sizes[iid] = (int(e["width"]), int(e["height"]))
    grouped: dict[str, dict[str, list]] = {}
    for ann in api.loadAnns(api.getAnnIds()):
        x, y, w, h = (float(v) for v in ann["bbox"])
        if w <= 0 or h <= 0:
            continue  # a degenerate box has no centre to hit and no area to overlap
        grouped.setdefault(cats[ann["category_id"]], {}).setdefault(by_coco[ann["image_id"]], []).append([x, y, x + w, y + h])
        scenes.n_boxes += 1
    scenes.boxes = {c: {i: np.array(b, np.float64) for i, b in per.items()} for c, per in grouped.items()}
    return scenes


def load_phrases(classes: list[str], path: Path | None = None) -> dict[str, list[str]]:
    """Phrases per class: ``path``'s (JSON {class: [phrase, ...]}) where given, else PHRASES, else TEMPLATES."""
    given: dict = {}
    if path is not None:
        try:
            given = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise BenchError(f"{path}: not a JSON phrase file ({exc})") from None
        if not isinstance(given, dict):
            raise BenchError(f"{path}: must be a JSON object {{category: [phrase, ...]}}")
        unknown = sorted(set(given) - set(classes))
        if unknown:
            raise BenchError(f"{path}: categories {unknown} are not in the COCO file (it has {classes})")
    out = {}
    for cls in classes:
        raw = given.get(cls) or PHRASES.get(cls) or [t.format(name=cls.replace("_", " ")) for t in TEMPLATES]
        phrases = [raw] if isinstance(raw, str) else list(raw)
        if not phrases or any(not isinstance(p, str) or not p.strip() for p in phrases):
            raise BenchError(f"phrases for '{cls}' must be non-empty strings; got {raw!r}")
        out[cls] = list(dict.fromkeys(p.strip() for p in phrases))
    return out


def check_gallery(state: IndexState, scenes: Scenes) -> None:
    """The index must hold exactly the COCO images, in the same pixel frames; BenchError says what differs."""
    indexed = set(state.images.ids)
    missing = [f for f, iid in zip(scenes.files, scenes.image_ids) if iid not in indexed]
    if missing:
        raise BenchError(f"{len(missing)} of the {len(scenes.image_ids)} COCO image(s) are not in the index "
                         f"(e.g. {missing[0]}); build it from the COCO image folder: `geoseek index IMAGES --index DIR`")
    extra = indexed - set(scenes.image_ids)
    if extra:
        raise BenchError(f"the index holds {len(extra)} image(s) the COCO file does not list; scene retrieval needs "
                         "a gallery of exactly its images (an unlisted scene would count as holding no object)")
    imgs = state.images
    for f, iid in zip(scenes.files, scenes.image_ids):
        j = imgs.index_of[iid]
        if (int(imgs.width[j]), int(imgs.height[j])) != scenes.sizes[iid]:
            raise BenchError(f"{f}: indexed as {int(imgs.width[j])}x{int(imgs.height[j])} px but the COCO file says "
                             f"{scenes.sizes[iid][0]}x{scenes.sizes[iid][1]}; the boxes would be in another frame")
