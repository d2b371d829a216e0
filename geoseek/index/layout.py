"""The index directory: shard pool, versions and the atomic CURRENT pointer.

    <index>/catalog.sqlite
    <index>/shards/<name>.{views,texts}.parquet       written once, never modified
    <index>/versions/<v>/manifest.json, {global,region,object,text}.faiss
    <index>/versions/<v>/vectors/*.parquet            hard links into shards/ (copies where links fail)
    <index>/CURRENT                                   the live version's name

A version is built under a hidden staging name, fsynced, renamed into place, and only then
does CURRENT switch (write a temp file, fsync, os.replace): a reader sees the old version or
the new one, never half of one.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

from geoseek.schemas import IndexManifest
from geoseek.schemas.errors import IndexFormatError, IndexLockedError

log = logging.getLogger(__name__)

VERSION_RE = re.compile(r"^v(\d{4,})$")
KEEP_VERSIONS = 3


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def link_or_copy(src: Path, dst: Path) -> None:
    """Place ``src`` at ``dst`` as a hard link (versions share shard files), copying across filesystems."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


class IndexDir:
    """Paths and version bookkeeping of one index directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.shards = self.root / "shards"
        self.versions = self.root / "versions"
        self.mosaics = self.root / "mosaics"

    def create(self) -> None:
        for d in (self.root, self.shards, self.versions):
            d.mkdir(parents=True, exist_ok=True)

    def exists(self) -> bool:
        return self.versions.is_dir() or (self.root / "catalog.sqlite").is_file()

    @property
    def default_catalog_url(self) -> str:
        return f"sqlite:///{(self.root / 'catalog.sqlite').resolve()}"

    @contextmanager
    def lock(self, wait_s: float = 0.0):
        """Exclusive writer lock: two indexers on one directory would interleave versions.

        ``wait_s``: how long to wait for another writer to finish before giving up (0: fail at once).
        """
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as f:
            deadline = time.monotonic() + wait_s
            while True:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise IndexLockedError(f"another geoseek process is writing to {self.root}"
                                           + (f" (waited {wait_s:g} s)" if wait_s else "; --wait SECONDS waits for it")) from None
                    time.sleep(0.2)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    MOSAIC_FORMAT = "geoseek-mosaic/1"

    def write_mosaic(self, image_id: str, tiles: list[str], **fields: object) -> str:
        """Write ``mosaics/<image_id>.json`` (the tiles of one mosaic scene and its georeference), atomically;
        returns its path relative to the index directory, which is the scene's catalog path."""
        self.mosaics.mkdir(parents=True, exist_ok=True)
        rel = f"mosaics/{image_id}.json"
        body = {"format": self.MOSAIC_FORMAT, "image_id": image_id, "tiles": tiles, **fields}
        atomic_write_text(self.root / rel, json.dumps(body, indent=1) + "\n")
        return rel

    def write_stack(self, image_id: str, vrt_xml: str) -> str:
        """Write ``stacks/<image_id>.vrt`` (a band stack's GDAL VRT), atomically; returns its path relative to the
        index directory, which is the stack's catalog path."""
        rel = f"stacks/{image_id}.vrt"
        (self.root / "stacks").mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.root / rel, vrt_xml + "\n")
        return rel

    def current(self) -> str | None:
        p = self.root / "CURRENT"
        return p.read_text().strip() or None if p.is_file() else None

    def list_versions(self) -> list[str]:
        if not self.versions.is_dir():
            return []
        # By number, not as text: v10000 comes after v9999.
        return sorted((d.name for d in self.versions.iterdir() if VERSION_RE.match(d.name)),
                      key=lambda name: int(VERSION_RE.match(name).group(1)))

    def next_version(self) -> str:
        nums = [int(VERSION_RE.match(v).group(1)) for v in self.list_versions()]
        return f"v{(max(nums) + 1 if nums else 1):04d}"

    def version_path(self, version: str) -> Path:
        return self.versions / version

    def manifest(self, version: str | None = None) -> IndexManifest | None:
        version = version or self.current()
        if not version:
            return None
        return IndexManifest.model_validate_json((self.version_path(version) / "manifest.json").read_text())

    def staging(self, version: str) -> Path:
        path = self.versions / f".{version}.staging"
        if path.exists():
            shutil.rmtree(path)
        (path / "vectors").mkdir(parents=True)
        return path

    def link_shard(self, name: str, staging: Path) -> None:
        """Place a pooled shard's files in a version (hard link; copy across filesystems)."""
        files = sorted(self.shards.glob(f"{name}.*.parquet"))
        if len(files) != 2:
            raise IndexFormatError(f"shard {name} is in the catalog but its files are missing from {self.shards}")
        for src in files:
            link_or_copy(src, staging / "vectors" / src.name)

    @staticmethod
    def write_manifest(staging: Path, manifest: IndexManifest) -> None:
        (staging / "manifest.json").write_text(manifest.model_dump_json(indent=2, by_alias=True))

    def publish_manifest(self, manifest: IndexManifest, based_on: str) -> str:
        """Publish a new version with ``based_on``'s index files (hard links) and ``manifest`` (e.g. new fusion
        weights); returns the new version's name. The caller holds ``lock()``."""
        version = self.next_version()
        staging = self.staging(version)
        src_dir = self.version_path(based_on)
        for src in src_dir.rglob("*"):
            if src.is_file() and src.name != "manifest.json":
                dst = staging / src.relative_to(src_dir)
                dst.parent.mkdir(parents=True, exist_ok=True)
                link_or_copy(src, dst)
        self.write_manifest(staging, manifest.model_copy(update={"version": version}))
        self.publish(staging, version)
        return version

    def publish(self, staging: Path, version: str) -> None:
        """Make a fully written staging version live: fsync, rename, switch CURRENT atomically."""
        for f in staging.rglob("*"):
            if f.is_file():
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
        final = self.version_path(version)
        os.replace(staging, final)
        fsync_dir(self.versions)
        atomic_write_text(self.root / "CURRENT", version + "\n")
        log.info("index version %s is live", version)
        self.prune()

    def prune(self) -> None:
        """Keep the newest KEEP_VERSIONS versions (shard data stays in the pool)."""
        current = self.current()
        for v in self.list_versions()[:-KEEP_VERSIONS]:
            if v != current:
                shutil.rmtree(self.version_path(v), ignore_errors=True)

    def clean_leftovers(self, known_shards: set[str]) -> int:
        """Remove staging dirs and shard files no catalog row names (a killed run's partial output)."""
        removed = 0
        for d in self.versions.glob(".*.staging") if self.versions.is_dir() else []:
            shutil.rmtree(d, ignore_errors=True)
        for f in list(self.shards.glob("*")) if self.shards.is_dir() else []:
            if f.name.split(".")[0] not in known_shards:
                f.unlink()
                removed += 1
        if removed:
            log.info("removed %d leftover shard file(s) from an interrupted run", removed)
        return removed
