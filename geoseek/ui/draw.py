"""Boxes drawn over thumbnails: a hit's best region/object box, and an image's DRIS view tree.

Boxes arrive in source pixels; thumbnails are scaled copies, so every box is scaled by the
thumbnail/source size ratio before drawing.
"""
from __future__ import annotations

import io

from PIL import Image, ImageDraw

REGION = (255, 150, 0)  # orange: best region view
OBJECT = (0, 220, 255)  # cyan: best object segment
DEPTH = [(255, 255, 255), (255, 220, 0), (255, 140, 0), (255, 40, 40), (200, 0, 255), (0, 200, 255)]


def _scaled(box: dict, sx: float, sy: float) -> tuple[float, float, float, float]:
    """A source-pixel box in thumbnail pixels; a box thinner than one thumbnail pixel stays one pixel wide."""
    x0, y0 = box["x0"] * sx, box["y0"] * sy
    return x0, y0, max(x0, box["x1"] * sx - 1), max(y0, box["y1"] * sy - 1)


def whole_image(box: dict, hit: dict) -> bool:
    """Whether a pixel box covers all of the hit's image (it then says nothing about where)."""
    return box["x0"] <= 0 and box["y0"] <= 0 and box["x1"] >= hit["width"] and box["y1"] >= hit["height"]


def _open(thumbnail: bytes) -> Image.Image:
    return Image.open(io.BytesIO(thumbnail)).convert("RGB")


def hit_overlay(thumbnail: bytes, hit: dict) -> Image.Image:
    """The thumbnail with the hit's region box (orange) and object box (cyan); a box covering the whole
    image is not drawn (it says nothing about where)."""
    im = _open(thumbnail)
    sx, sy = im.width / hit["width"], im.height / hit["height"]
    d = ImageDraw.Draw(im)
    line = max(2, round(im.width / 110))
    for key, colour in (("region_box", REGION), ("object_box", OBJECT)):
        box = hit.get(key)
        if not box or whole_image(box, hit):
            continue
        d.rectangle(_scaled(box, sx, sy), outline=colour, width=line)
    return im


def views_overlay(thumbnail: bytes, record: dict) -> Image.Image:
    """The thumbnail with every global/region view's node box, coloured by DRIS depth, and object boxes dashed thin."""
    im = _open(thumbnail)
    sx, sy = im.width / record["width"], im.height / record["height"]
    d = ImageDraw.Draw(im)
    views = sorted(record["views"], key=lambda v: v["depth"])
    for v in views:
        if v["level"] == "object":
            d.rectangle(_scaled(v["bbox"], sx, sy), outline=OBJECT, width=1)
    for v in views:
        if v["level"] != "object":
            d.rectangle(_scaled(v["node_box"], sx, sy), outline=DEPTH[min(v["depth"], len(DEPTH) - 1)], width=2)
    return im
