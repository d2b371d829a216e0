"""The catalog: images, captions, shards and skipped inputs, through SQLAlchemy.

SQLite in the index directory by default; any SQLAlchemy URL (e.g. PostgreSQL) is accepted.
A shard's rows are committed in one transaction after its Parquet files are on disk, so the
catalog never names data that does not exist; files the catalog does not name are leftovers
of a killed run and are removed on the next start.
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    DateTime,
    Integer,
    String,
    Text,
    create_engine,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from geoseek.extras import require
from geoseek.schemas import SkippedInput


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class ImageRow(Base):
    __tablename__ = "images"
    image_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    collection: Mapped[str] = mapped_column(String(200), index=True)
    split: Mapped[str | None] = mapped_column(String(20), nullable=True)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(20))
    crs: Mapped[str | None] = mapped_column(Text, nullable=True)
    bounds: Mapped[list | None] = mapped_column(JSON, nullable=True)
    bounds_wgs84: Mapped[list | None] = mapped_column(JSON, nullable=True)
    gsd: Mapped[list | None] = mapped_column(JSON, nullable=True)
    datetime: Mapped[str | None] = mapped_column(String(32), nullable=True)
    n_global: Mapped[int] = mapped_column(Integer, default=0)
    n_region: Mapped[int] = mapped_column(Integer, default=0)
    n_object: Mapped[int] = mapped_column(Integer, default=0)
    shard: Mapped[str] = mapped_column(String(80), index=True)
    extra: Mapped[dict] = mapped_column(JSON, default=dict)


class CaptionRow(Base):
    __tablename__ = "captions"
    text_id: Mapped[str] = mapped_column(String(60), primary_key=True)
    image_id: Mapped[str] = mapped_column(String(40), index=True)
    text: Mapped[str] = mapped_column(Text)
    split: Mapped[str | None] = mapped_column(String(20), nullable=True)
    shard: Mapped[str] = mapped_column(String(80))


class ShardRow(Base):
    __tablename__ = "shards"
    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    n_images: Mapped[int] = mapped_column(Integer)
    n_views: Mapped[int] = mapped_column(Integer)
    n_captions: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(12), default="pending")  # pending | committed
    version: Mapped[str | None] = mapped_column(String(20), nullable=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class SkippedRow(Base):
    __tablename__ = "skipped"
    path: Mapped[str] = mapped_column(Text, primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class MetaRow(Base):
    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Catalog:
    """Typed access to the catalog database."""

    def __init__(self, url: str) -> None:
        self.url = url
        if make_url(url).get_driver_name() in ("psycopg", "psycopg_async"):  # postgresql:// too, on SQLAlchemy 2.1
            require("psycopg", "postgres", "PostgreSQL catalogs")
        self.engine: Engine = create_engine(url, future=True)
        Base.metadata.create_all(self.engine)

    @contextmanager
    def writer_lock(self, key: str, wait_s: float = 0.0) -> Iterator[None]:
        """Writers of one index take this lock in the catalog too.

        On PostgreSQL it is a session advisory lock on a hash of ``key`` (the index directory). That
        makes indexers on different machines sharing the catalog exclusive even where file locks
        are not (NFS). SQLite lives in the index directory, whose file lock already covers it.
        """
        if self.engine.dialect.name != "postgresql":
            yield
            return
        lock_id = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
        with self.engine.connect() as conn:
            deadline = time.monotonic() + wait_s
            while not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_id}).scalar():
                if time.monotonic() >= deadline:
                    raise RuntimeError(f"another geoseek indexer holds the catalog lock for {key}"
                                       + (f" (waited {wait_s:.0f} s)" if wait_s else "; --wait SECONDS waits for it"))
                time.sleep(0.2)
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_id})

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def get_meta(self, key: str) -> str | None:
        with self.session() as s:
            row = s.get(MetaRow, key)
            return row.value if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.session() as s, s.begin():
            s.merge(MetaRow(key=key, value=value))

    def known_file_ids(self) -> dict[str, str]:
        """File id -> image id, for every indexed file, tiles of scenes included."""
        out: dict[str, str] = {}
        with self.session() as s:
            for image_id, extra in s.execute(select(ImageRow.image_id, ImageRow.extra)):
                out[image_id] = image_id
                for tile in (extra or {}).get("tile_ids", []):
                    out[tile] = image_id
        return out

    def captions_of(self, image_ids: list[str]) -> dict[str, list[str]]:
        """Existing caption texts per image (in text-id order)."""
        out: dict[str, list[str]] = {}
        with self.session() as s:
            for start in range(0, len(image_ids), 900):
                q = select(CaptionRow.image_id, CaptionRow.text).where(CaptionRow.image_id.in_(image_ids[start : start + 900]))
                for iid, text in s.execute(q.order_by(CaptionRow.text_id)):
                    out.setdefault(iid, []).append(text)
        return out

    def commit_shard(self, shard: ShardRow, images: list[ImageRow], captions: list[CaptionRow],
                     meta: dict[str, str] | None = None) -> None:
        """Record a shard whose files are already on disk, atomically, and clear its paths from `skipped`.
        ``meta`` rows (the index settings) are written in the same transaction."""
        with self.session() as s, s.begin():
            for key, value in (meta or {}).items():
                s.merge(MetaRow(key=key, value=value))
            s.add(shard)
            s.add_all(images)
            s.add_all(captions)
            paths = [im.path for im in images]
            for start in range(0, len(paths), 500):
                s.execute(delete(SkippedRow).where(SkippedRow.path.in_(paths[start : start + 500])))

    def record_skipped(self, skipped: list[SkippedInput]) -> None:
        with self.session() as s, s.begin():
            for sk in skipped:
                s.merge(SkippedRow(path=sk.path, reason=sk.reason, seen=_now()))

    def skipped(self) -> list[SkippedInput]:
        with self.session() as s:
            return [SkippedInput(path=r.path, reason=r.reason) for r in s.scalars(select(SkippedRow).order_by(SkippedRow.path))]

    def shards(self, state: str | None = None) -> list[ShardRow]:
        with self.session() as s:
            q = select(ShardRow).order_by(ShardRow.name)
            if state:
                q = q.where(ShardRow.state == state)
            return list(s.scalars(q))

    def mark_committed(self, names: list[str], version: str) -> None:
        with self.session() as s, s.begin():
            s.execute(update(ShardRow).where(ShardRow.name.in_(names)).values(state="committed", version=version))

    def image_counts(self, shard_names: list[str] | None = None) -> dict[str, int]:
        """Totals over images (optionally only those in the given shards)."""
        with self.session() as s:
            q = select(func.count(), func.coalesce(func.sum(ImageRow.n_global), 0), func.coalesce(func.sum(ImageRow.n_region), 0),
                       func.coalesce(func.sum(ImageRow.n_object), 0))
            cq = select(func.count()).select_from(CaptionRow)
            if shard_names is not None:
                q = q.where(ImageRow.shard.in_(shard_names))
                cq = cq.where(CaptionRow.shard.in_(shard_names))
            n, g, r, o = s.execute(q).one()
            return {"images": n, "global": g, "region": r, "object": o, "captions": s.execute(cq).scalar_one()}

    def views_histogram(self, shard_names: list[str]) -> dict[str, int]:
        """Number of encoded views (global + region) per image -> number of images."""
        with self.session() as s:
            views = ImageRow.n_global + ImageRow.n_region
            rows = s.execute(select(views, func.count()).where(ImageRow.shard.in_(shard_names)).group_by(views).order_by(views))
            return {str(v): c for v, c in rows}
