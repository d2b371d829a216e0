"""Builders of the bad inputs the indexer must refuse with a one-line reason (made from real images).

Band layouts that can be shown as RGB (grey, 16-bit, RGBA, RGBN) are no longer bad: see tests/views/test_bands.py."""
from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from tests.conftest import RSICD

GOOD = RSICD / "images" / "Airport" / "airport_1.jpg"


def _png_with_header_size(path: Path, width: int, height: int) -> None:
    """A real small PNG whose IHDR claims ``width`` x ``height`` (CRC fixed so decoders read the header)."""
    Image.new("RGB", (8, 8), (10, 200, 30)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = 8 + 8  # signature, then length + type of the IHDR chunk
    data[ihdr:ihdr + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[12:ihdr + 13])) & 0xFFFFFFFF
    data[ihdr + 13:ihdr + 17] = struct.pack(">I", crc)
    path.write_bytes(bytes(data))


def _tiff(path: Path, count: int, dtype: str, width: int = 64, height: int = 64, sparse: bool = False) -> None:
    import rasterio

    profile = dict(driver="GTiff", width=width, height=height, count=count, dtype=dtype)
    if sparse:
        profile.update(tiled=True, blockxsize=256, blockysize=256, SPARSE_OK="TRUE", compress="deflate")
    with rasterio.open(path, "w", **profile) as ds:
        if not sparse:
            ds.write(np.full((count, height, width), 7, dtype=dtype))


def make_bad_inputs(folder: Path) -> dict[str, str]:
    """Write one file per bad-input kind into ``folder``; returns file name -> expected reason fragment."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.jpg").write_bytes(b"")
    raw = GOOD.read_bytes()
    (folder / "truncated.jpg").write_bytes(raw[: len(raw) // 3])
    (folder / "not_an_image.png").write_text("this is a text file with an image name")
    Image.new("RGB", (32, 32)).save(folder / "anim.gif")
    _png_with_header_size(folder / "bomb.png", 100_000, 100_000)
    _tiff(folder / "bomb.tif", 3, "uint8", 100_000, 100_000, sparse=True)
    Image.open(GOOD).convert("CMYK").save(folder / "cmyk.jpg")
    _tiff(folder / "thirteen_band.tif", 13, "uint16")
    _tiff(folder / "two_band.tif", 2, "uint16")
    _tiff(folder / "complex.tif", 1, "complex64")
    return {
        "empty.jpg": "empty file (0 bytes)",
        "truncated.jpg": "truncated",
        "not_an_image.png": "unreadable: not a recognised image",
        "anim.gif": "unsupported format '.gif'",
        "bomb.png": "decompression bomb guard",
        "bomb.tif": "decompression bomb guard",
        "cmyk.jpg": "unsupported band layout: mode CMYK (4 bands)",
        "thirteen_band.tif": "unsupported band layout: 13 band(s) of uint16",
        "two_band.tif": "use --bands",
        "complex.tif": "unsupported band layout: data type complex64",
    }


def copy_good(folder: Path, n: int = 3) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for src in sorted((RSICD / "images" / "Airport").glob("*.jpg"))[:n]:
        shutil.copy(src, folder / src.name)
        out.append(folder / src.name)
    return out
