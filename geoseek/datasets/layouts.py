"""Dataset layouts as distributed: where a dataset json's images live, splits, class folders, COCO.

Plain data in, plain data out (paths, labels, split names), so ``sources`` builds SourceItems
from it without an import cycle. Every refusal is a DatasetError whose message says what to do.
"""
from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path

from geoseek.schemas.errors import DatasetError  # noqa: F401 - raised here, re-exported

log = logging.getLogger(__name__)

# Folder names the caption benchmarks ship their images in, next to the json: RSICD
# (RSICD_images), RSITMD (images), UCM-Captions and Sydney-Captions (imgs). Other subfolders whose
# name ends in "images"/"imgs" are tried after these.
IMAGE_DIR_NAMES = ("RSICD_images", "images", "imgs", "Images")
# Split folder names of class-folder (torchvision ImageFolder) datasets, and the split each one means
# (lower-cased; "valid"/"validation" are the val split that tune-fusion and the trainer default to).
SPLIT_DIRS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
SHOWN_MISSING = 3


def split_of_folder(name: str) -> str | None:
    """The split a folder name stands for ('Test' -> 'test', 'validation' -> 'val'), or None."""
    return SPLIT_DIRS.get(name.lower())



def image_dir_candidates(base: Path) -> list[Path]:
    """Folders that may hold a dataset json's images: its own directory, then conventional subfolders."""
    named = [base / n for n in IMAGE_DIR_NAMES]
    others = sorted(p for p in base.iterdir() if p.is_dir() and p.name.lower().endswith(("images", "imgs"))) \
        if base.is_dir() else []
    out: list[Path] = []
    seen: set[Path] = set()
    home = base.resolve()
    for p in [base, *named, *others]:
        # On a case-insensitive disk "images" and "Images" are one folder: try it once.
        if p.is_dir() and (key := p.resolve()) not in seen:
            seen.add(key)
            if not key.is_relative_to(home):
                # A folder found by convention is part of the archive; a symlink out of it is not followed
                # (only an explicit --image-dir may point elsewhere).
                log.warning("%s links outside %s; not searched for images (name it with --image-dir)", p, home)
                continue
            out.append(p)
    return out


def check_relative(rel: Path, root: Path, where: str) -> None:
    """Refuse an absolute path or one that climbs out of ``root`` with '..' (before any folder is chosen)."""
    if rel.is_absolute() or os.path.normpath(rel).split(os.sep)[0] == "..":
        raise DatasetError(f"{where} path '{rel}' is outside the archive root {root}")


def find_image_root(dataset: Path, rels: list[Path], image_dir: Path | None = None) -> Path:
    """The folder against which every path in ``rels`` names a file: ``image_dir`` when given, else the first
    candidate of ``image_dir_candidates`` that holds them all. Raises DatasetError naming what is missing."""
    if image_dir is not None and not image_dir.is_dir():
        raise DatasetError(f"--image-dir {image_dir}: not a folder")
    candidates = [image_dir] if image_dir is not None else image_dir_candidates(dataset.parent)
    best, best_missing = candidates[0], list(rels)
    for root in candidates:
        # Decided by the entries themselves: a folder that merely exists proves nothing.
        missing = [r for r in rels if not (root / r).is_file()]
        if not missing:
            others = [c for c in candidates if c != root and all((c / r).is_file() for r in rels[:SHOWN_MISSING])]
            if others:
                log.warning("%s: its images are in %s and also in %s; using the first (--image-dir to choose)",
                            dataset, root, ", ".join(map(str, others)))
            elif root != dataset.parent:
                log.info("%s: images found in %s", dataset, root)
            return root
        if len(missing) < len(best_missing):
            best, best_missing = root, missing
    raise DatasetError(missing_message(dataset, len(rels), [best / r for r in best_missing], candidates, image_dir))


def missing_message(dataset: Path, total: int, missing: list[Path], tried: list[Path], image_dir: Path | None) -> str:
    """'N of M listed images not found', the first few paths looked for, and how to fix it."""
    shown = ", ".join(str(p) for p in missing[:SHOWN_MISSING]) + (", ..." if len(missing) > SHOWN_MISSING else "")
    where = f"in --image-dir {image_dir}" if image_dir is not None else \
        f"in any of the folders tried ({', '.join(str(p) for p in tried)})"
    hint = "check the folder" if image_dir is not None else "name the folder that holds them with --image-dir DIR"
    return f"{dataset}: {len(missing):,} of {total:,} listed image(s) not found {where}; looked for {shown}; {hint}"


def describe_splits(splits: list[str | None]) -> str:
    """'test 1,093, train 8,734, val 1,094' (plus the entries without a split), for a --split error."""
    counts = Counter(splits)
    named = sorted(s for s in counts if s is not None)
    parts = [f"{s} {counts[s]:,}" for s in named]
    if None in counts:
        parts.append(f"{counts[None]:,} without a split")
    return ", ".join(parts) or "none"


def check_splits(where: str, present: list[str | None], splits: list[str] | None) -> list[bool]:
    """Per entry, whether its split is wanted; refuses a selection that keeps nothing, listing what is there."""
    if not splits:
        return [True] * len(present)
    keep = [s in splits for s in present]
    if not any(keep):
        raise DatasetError(f"{where}: no images in split(s) {', '.join(splits)} (splits present: {describe_splits(present)})")
    return keep


def class_folder_labels(root: Path, files: list[Path]) -> dict[Path, tuple[str | None, str | None]] | None:
    """(split, class) per image file of a class-folder dataset, or None when ``root`` is not one.

    Split folders holding images directly (``root/<split>/x``) give (split, None): a split, no class.

    A class-folder dataset has every image exactly one level below a class folder: ``root/<class>/x``,
    or ``root/<split>/<class>/x`` with split folder names from SPLIT_DIRS; a root itself named like a
    split (``resisc/test``) gives its images that split. At least two classes: one subfolder is more
    likely an archive's own filing than a label.
    """
    if not files:
        return None
    parts = [f.relative_to(root).parts for f in files]
    depths = {len(p) for p in parts}
    name = root.resolve().name
    if depths == {2} and all(split_of_folder(p[0]) for p in parts):
        # <split>/x: split folders without class folders, no labels (split names are not classes).
        return {f: (split_of_folder(p[0]), None) for f, p in zip(files, parts)}
    if depths == {2}:
        root_split = split_of_folder(name)
        labels = {f: (root_split, p[0]) for f, p in zip(files, parts)}
    elif depths == {3} and all(split_of_folder(p[0]) for p in parts):
        labels = {f: (split_of_folder(p[0]), p[1]) for f, p in zip(files, parts)}
    else:
        return None
    if len({label for _, label in labels.values()}) < 2:
        return None
    return labels


def is_coco(data: object) -> bool:
    """A COCO detection json (images + annotations + categories), as opposed to a Karpathy dataset.json."""
    return isinstance(data, dict) and "annotations" in data and "categories" in data


def coco_images(data: dict, where: str) -> list[tuple[str, object, list[str]]]:
    """(file_name, COCO image id, sorted unique category names) per image of a COCO json; bad types refused."""
    images, anns, cats = data.get("images"), data.get("annotations"), data.get("categories")
    if not all(isinstance(x, list) for x in (images, anns, cats)):
        raise DatasetError(f"{where}: COCO json needs 'images', 'annotations' and 'categories' lists")
    names: dict[object, str] = {}
    for i, c in enumerate(cats):
        if not isinstance(c, dict) or "id" not in c or not isinstance(c.get("name"), str):
            raise DatasetError(f"{where}: categories[{i}] needs an 'id' and a string 'name'")
        names[c["id"]] = c["name"]
    per_image: dict[object, set[str]] = {}
    for i, a in enumerate(anns):
        if not isinstance(a, dict) or "image_id" not in a or a.get("category_id") not in names:
            raise DatasetError(f"{where}: annotations[{i}] needs an 'image_id' and a 'category_id' listed in categories")
        per_image.setdefault(a["image_id"], set()).add(names[a["category_id"]])
    out = []
    for i, im in enumerate(images):
        if not isinstance(im, dict) or not isinstance(im.get("file_name"), str) or not im["file_name"]:
            raise DatasetError(f"{where}: images[{i}] needs a string 'file_name'")
        out.append((im["file_name"], im.get("id"), sorted(per_image.get(im.get("id"), ()))))
    return out
