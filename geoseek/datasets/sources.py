"""Read sources: image files, folders (class folders too), dataset jsons with captions or boxes, GeoTIFF tiles.

``discover`` turns the SRC arguments into SourceItems (one per retrievable image) plus the
inputs it skipped with a reason. A dataset json (Karpathy or COCO, in the layouts datasets are
distributed in: see ``layouts``) that is corrupt, lists a file that is missing, or names a file
outside its image folder (the archive root), is refused as a whole with DatasetError before
anything runs.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

from geoseek.datasets.formats import IMAGE_SUFFIXES, TIFF_SUFFIXES
from geoseek.datasets.layouts import (
    DatasetError,
    check_relative,
    check_splits,
    class_folder_labels,
    coco_images,
    find_image_root,
    is_coco,
)
from geoseek.datasets.remote import (
    Source,
    is_remote,
    remote_id,
    url_folder,
    url_name,
    url_suffix,
)
from geoseek.schemas import SkippedInput

log = logging.getLogger(__name__)

CAPTION_SIDECAR = ".txt"


@dataclass
class SourceItem:
    """One image to index: a file (or an http(s) URL, kept as its string), the touching GeoTIFF tiles of one scene,
    or (``stacked``) three one-band files read as red, green and blue (a STAC Item's band assets)."""

    paths: tuple[Source, ...]
    collection: str
    captions: list[str] = field(default_factory=list)
    split: str | None = None
    extra: dict = field(default_factory=dict)
    root: Path | None = None  # the source folder it was found under (SRC folder, archive root, a file's folder)
    stacked: bool = False

    @property
    def display_path(self) -> str:
        if len(self.paths) == 1:
            return str(self.paths[0])
        if self.stacked or any(is_remote(p) for p in self.paths):
            return "[" + ", ".join(str(p) for p in self.paths) + "]"
        return f"{self.paths[0].parent}/[{', '.join(p.name for p in self.paths)}]"


def content_id(paths: tuple[Source, ...]) -> str:
    """Stable image id: sha256 of the file bytes (of each tile's hash, for a mosaic), 20 hex chars."""
    return content_ids(paths)[0]


def _file_digest(p: Source) -> str:
    """sha256 hex of a file's bytes; of a URL, its remote id (``geoseek.datasets.remote``)."""
    if is_remote(p):
        return remote_id(p)
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def content_ids(paths: tuple[Source, ...], stacked: bool = False) -> tuple[str, list[str]]:
    """(image id, per-file ids); a single file's image id is its file id, so a tile indexed alone
    and the same tile inside a scene are recognised as the same pixels. A mosaic's id ignores the tiles' order;
    a band stack's (``stacked``) does not, since red, green, blue is not blue, green, red.

    An http(s) URL's id is not a hash of its bytes but of its URL, size and ETag (``geoseek.datasets.remote``);
    an unreachable one raises ``RemoteError`` (an OSError) with the reason."""
    digests = [_file_digest(p) for p in paths]
    files = [d[:20] for d in digests]
    if len(digests) == 1:
        return files[0], files
    key = "stack:" + "".join(digests) if stacked else "".join(sorted(digests))
    return hashlib.sha256(key.encode()).hexdigest()[:20], files


def _entry_captions(entry: dict, where: str) -> tuple[list[str], int]:
    """(non-empty captions, number of empty ones) of one dataset entry; wrong types are a DatasetError."""
    sentences, captions = entry.get("sentences", []), entry.get("captions", [])
    if not isinstance(sentences, list) or not isinstance(captions, list):
        raise DatasetError(f"{where}: 'sentences' and 'captions' must be lists")
    caps = [s.get("raw", "") if isinstance(s, dict) else s for s in sentences] + list(captions)
    if any(not isinstance(c, str) for c in caps):
        raise DatasetError(f"{where}: every caption ('sentences[].raw' or 'captions[]') must be a string")
    kept = [c.strip() for c in caps if c.strip()]
    return kept, len(caps) - len(kept)


@dataclass
class _Entry:
    """One listed image of a dataset json, validated, before its folder is known."""

    rel: Path
    index: int
    split: str | None = None
    captions: list[str] = field(default_factory=list)
    empty: int = 0
    extra: dict = field(default_factory=dict)


def _karpathy_entries(path: Path, data: dict, base: Path) -> list[_Entry]:
    """Validate every entry of a Karpathy dataset.json (types, captions, paths inside ``base``)."""
    if not isinstance(data.get("images"), list):
        raise DatasetError(f"{path}: expected an object with an 'images' list (Karpathy dataset.json)")
    out = []
    for i, entry in enumerate(data["images"]):
        where = f"{path}: images[{i}]"
        if not isinstance(entry, dict):
            raise DatasetError(f"{where} is not an object")
        rel, name, split = entry.get("filepath") or "", entry.get("filename") or "", entry.get("split")
        if not isinstance(rel, str) or not isinstance(name, str) or not (split is None or isinstance(split, str)):
            raise DatasetError(f"{where}: 'filepath', 'filename' and 'split' must be strings")
        if not rel and not name:
            raise DatasetError(f"{where} has neither 'filepath' nor 'filename'")
        # Karpathy files put the folder in filepath and the name in filename; ours put the whole path in filepath.
        candidate = Path(rel) if rel.endswith(name) or not name else Path(rel) / name
        check_relative(candidate, base, where)
        captions, empty = _entry_captions(entry, where)  # types checked for every entry
        extra = {k: entry[k] for k in ("label", "aid_class", "rsicd_label", "imgid", "dataset") if k in entry}
        out.append(_Entry(candidate, i, split, captions, empty, extra))
    return out


def _coco_entries(path: Path, data: dict, base: Path) -> list[_Entry]:
    """One entry per COCO image; its category names (not its boxes) go to extra to keep the catalog small."""
    out = []
    for i, (name, coco_id, cats) in enumerate(coco_images(data, str(path))):
        check_relative(Path(name), base, f"{path}: images[{i}]")
        out.append(_Entry(Path(name), i, extra={"categories": cats, "coco_id": coco_id}))
    return out


def _load_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot be read ({exc})") from exc


def read_dataset(path: Path, image_dir: Path | None = None, splits: list[str] | None = None, data: object = None
                 ) -> tuple[list[SourceItem], list[SkippedInput]]:
    """Parse a dataset json: Karpathy-style (``images[]`` with ``filepath``/``filename``, ``sentences[].raw``
    or ``captions[]``, ``split``, ``label``) or COCO detection (``images``, ``annotations``, ``categories``).

    Paths resolve against the image folder (``image_dir``, else found by ``find_image_root``), which is
    the archive root: nothing outside it is read. ``splits`` keeps only those splits; only their files
    must exist. Every listed file must exist: a benchmark scored on a silent subset is worse than an error.
    """
    data = _load_json(path) if data is None else data  # ``data``: the json already parsed by the caller
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: expected an object with an 'images' list (Karpathy dataset.json)")
    base = image_dir if image_dir is not None else path.parent
    coco = is_coco(data)
    entries = _coco_entries(path, data, base) if coco else _karpathy_entries(path, data, base)
    keep = check_splits(str(path), [e.split for e in entries], splits)
    entries = [e for e, k in zip(entries, keep) if k]
    root = find_image_root(path, [e.rel for e in entries], image_dir)
    inside = root.resolve()
    collection = path.parent.name if coco else str(data.get("dataset") or path.parent.name)
    items, skipped = [], []
    for e in entries:
        full = root / e.rel
        if not full.resolve().is_relative_to(inside):  # a symlink out of the archive
            raise DatasetError(f"{path}: images[{e.index}] path '{e.rel}' is outside the archive root {inside}")
        if e.empty:
            skipped.append(SkippedInput(path=f"{path}#images[{e.index}]",
                                        reason=f"{e.empty} empty caption(s) for {e.rel} not indexed"))
        items.append(SourceItem((full,), collection, e.captions, e.split, e.extra, root=root))
    return items, skipped


def _sidecar_captions(image: Path) -> list[str]:
    side = image.with_suffix(CAPTION_SIDECAR)
    if not side.is_file():
        return []
    return [line.strip() for line in side.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]


def _tiff_header(path: Path):
    """(crs, resx, resy, bounds, (band count, dtypes)) of a GeoTIFF, or None when it has no CRS or cannot be opened."""
    import rasterio

    try:
        with rasterio.open(path) as ds:
            if ds.crs is None:
                return None
            return (ds.crs.to_string(), round(abs(ds.res[0]), 12), round(abs(ds.res[1]), 12), tuple(ds.bounds),
                    (ds.count, tuple(ds.dtypes)))
    except Exception:  # an unreadable tile is reported when it is opened as an image
        return None


def _overlap(a: tuple, b: tuple, tol: float) -> bool:
    """Whether two (left, bottom, right, top) boxes share more than a sliver of area."""
    return min(a[2], b[2]) - max(a[0], b[0]) > tol and min(a[3], b[3]) - max(a[1], b[1]) > tol


def _edge_adjacent(a: tuple, b: tuple, tol: float) -> bool:
    """Whether two boxes share a stretch of edge (not only a corner) without overlapping."""
    side_by_side = (abs(a[2] - b[0]) <= tol or abs(b[2] - a[0]) <= tol) and min(a[3], b[3]) - max(a[1], b[1]) > tol
    stacked = (abs(a[3] - b[1]) <= tol or abs(b[3] - a[1]) <= tol) and min(a[2], b[2]) - max(a[0], b[0]) > tol
    return side_by_side or stacked


def _aligned(a: tuple, b: tuple, resx: float, resy: float) -> bool:
    """Whether two boxes lie on one pixel grid: their corners are whole pixels apart."""
    dx, dy = (a[0] - b[0]) / resx, (a[3] - b[3]) / resy
    return abs(dx - round(dx)) < 0.01 and abs(dy - round(dy)) < 0.01


def group_tiles(tiffs: list[Path]) -> list[tuple[Path, ...]]:
    """Group GeoTIFFs into scenes: tiles of one grid (same CRS, pixel size and alignment) that are
    edge-adjacent and do not overlap form one scene (connected components).

    Rasters that overlap another raster of the same grid are co-located: another date, another
    product of the same footprint. Each stays an image of its own, because a mosaic would show
    only one of them and silently drop the other's pixels. Rasters on other grids (another CRS or
    pixel size, e.g. a pan band beside multispectral bands) or with other bands (count, data type)
    never join a scene.
    """
    headers = {p: _tiff_header(p) for p in tiffs}
    groups: list[tuple[Path, ...]] = [(p,) for p, h in headers.items() if h is None]
    by_grid: dict[tuple, list[Path]] = {}
    for p, h in headers.items():
        if h is not None:  # one grid, and the same bands: a scene's tiles are read the same way
            by_grid.setdefault((*h[:3], h[4]), []).append(p)
    for (_, resx, resy, _bands), paths in by_grid.items():
        tol = 0.5 * min(resx, resy)
        box = {p: headers[p][3] for p in paths}
        co_located = {p for a, b in combinations(paths, 2) if _overlap(box[a], box[b], tol) for p in (a, b)}
        groups += [(p,) for p in paths if p in co_located]
        tiles = [p for p in paths if p not in co_located]
        parent = {p: p for p in tiles}

        def find(p: Path) -> Path:
            while parent[p] != p:
                parent[p] = parent[parent[p]]
                p = parent[p]
            return p

        for i, a in enumerate(tiles):
            for b in tiles[i + 1 :]:
                if _edge_adjacent(box[a], box[b], tol) and _aligned(box[a], box[b], resx, resy):
                    parent[find(a)] = find(b)
        comps: dict[Path, list[Path]] = {}
        for p in tiles:
            comps.setdefault(find(p), []).append(p)
        groups += [tuple(sorted(c)) for c in comps.values()]
    return sorted(groups)


def scan_folder(folder: Path, mosaic: bool = True) -> tuple[list[SourceItem], list[SkippedInput]]:
    """Every image under ``folder`` (recursive, sorted); sidecar .txt files hold captions."""
    items, skipped = [], []
    by_dir: dict[Path, list[Path]] = {}
    for p in sorted(folder.rglob("*")):
        if not p.is_file() or any(part.startswith(".") for part in p.relative_to(folder).parts):
            continue
        suffix = p.suffix.lower()
        if suffix in IMAGE_SUFFIXES:
            by_dir.setdefault(p.parent, []).append(p)
        elif suffix == CAPTION_SIDECAR and any(p.with_suffix(s).exists() for s in IMAGE_SUFFIXES):
            continue
        else:
            hint = " (pass a dataset.json as its own SRC to index its captions)" if suffix == ".json" else ""
            skipped.append(SkippedInput(path=str(p), reason=f"unsupported format '{suffix or p.name}'{hint}"))
    collection = folder.resolve().name
    for d, files in by_dir.items():
        tiffs = [p for p in files if p.suffix.lower() in TIFF_SUFFIXES and p.stat().st_size > 0]
        groups = group_tiles(tiffs) if mosaic and len(tiffs) > 1 else [(p,) for p in tiffs]
        groups += [(p,) for p in files if p not in tiffs]
        for g in sorted(groups):
            items.append(SourceItem(g, collection, _sidecar_captions(g[0]) if len(g) == 1 else []))
    return items, skipped


def read_image_folder(folder: Path, mosaic: bool = True) -> tuple[list[SourceItem], list[SkippedInput]]:
    """``scan_folder``, plus ``split`` and ``extra["label"]`` when the folder is a class-folder dataset
    (``<class>/x.jpg`` or ``<split>/<class>/x.jpg``; ``<split>/x.jpg`` gives a split and no label; see
    ``class_folder_labels``). Same items either way."""
    items, skipped = scan_folder(folder, mosaic)
    labels = class_folder_labels(folder, [p for it in items for p in it.paths])
    if labels is not None:
        for it in items:
            it.split, label = labels[it.paths[0]]
            if label is not None:
                it.extra["label"] = label
        classes = {lab for _, lab in labels.values() if lab is not None}
        log.info("%s: %s", folder, f"class folders, {len(classes)} classes" if classes else "split folders, no classes")
    return items, skipped


def _read_remote(url: str) -> tuple[list[SourceItem], list[SkippedInput]]:
    """An http(s) SRC: one image when it names a TIFF (read by window over HTTP); nothing is fetched yet."""
    if url_suffix(url) not in TIFF_SUFFIXES:
        return [], [SkippedInput(path=url, reason=f"remote '{url_suffix(url) or url_name(url)}' is not read: http(s) "
                                 "sources are (Cloud-Optimized) GeoTIFFs (.tif, .tiff)")]
    return [SourceItem((url,), url_folder(url))], []


def _read_source(src: Source, mosaic: bool, splits: list[str] | None, image_dir: Path | None, asset: str | None = None
                 ) -> tuple[list[SourceItem], list[SkippedInput]]:
    """One SRC argument -> (items, skipped); ``splits`` applies to sources that have splits."""
    if is_remote(src):
        return _read_remote(src)
    src = Path(src)
    if src.is_dir():
        items, skipped = read_image_folder(src, mosaic)
        for it in items:
            it.root = src
        if any(it.split is not None for it in items):  # a folder without split folders is kept whole
            keep = check_splits(str(src), [it.split for it in items], splits)
            items = [it for it, k in zip(items, keep) if k]
        return items, skipped
    if src.suffix.lower() in (".json", ".geojson") and src.is_file():
        from geoseek.datasets.stac import is_stac, read_stac

        data = _load_json(src)  # parsed once: STAC, else a dataset json
        if is_stac(data):
            found, skipped = read_stac(src, data, asset)
            return [SourceItem(s.files, s.collection, [], None, {"stac": s.stac}, root=src.parent, stacked=len(s.files) == 3)
                    for s in found], skipped
        if src.suffix.lower() == ".json":
            return read_dataset(src, image_dir, splits, data)
    if src.suffix.lower() == ".json":
        return read_dataset(src, image_dir, splits)
    if src.is_file() or src.suffix.lower() in IMAGE_SUFFIXES:
        return [SourceItem((src,), src.resolve().parent.name, _sidecar_captions(src), root=src.parent)], []
    return [], [SkippedInput(path=str(src), reason="file not found")]


def discover(srcs: list[Source], mosaic: bool = True, splits: list[str] | None = None,
             image_dir: Path | None = None, asset: str | None = None) -> tuple[list[SourceItem], list[SkippedInput]]:
    """All SRC arguments -> (items to index, skipped inputs). Raises DatasetError for a bad dataset json.

    An http(s) URL is one remote GeoTIFF (see ``geoseek.datasets.remote``).
    ``splits`` keeps only those splits of each dataset json and split-foldered class-folder dataset
    (other folders and files have no split and are kept). ``image_dir`` names the image folder of the
    dataset json sources (default: found by convention, see ``find_image_root``). ``asset``: the
    asset of each STAC Item to index (default: see ``geoseek.datasets.stac``).
    """
    if image_dir is not None and not any(not is_remote(s) and Path(s).suffix.lower() == ".json" for s in srcs):
        raise DatasetError(f"--image-dir {image_dir} names the image folder of a dataset json, and no SRC is a .json")
    items, skipped = [], []
    for src in srcs:
        i, s = _read_source(src, mosaic, splits, image_dir, asset)
        items += i
        skipped += s
    return items, skipped
