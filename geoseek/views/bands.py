"""Which bands a raster is shown with, and how its values are scaled to 8 bits.

``decide_display`` looks at an open rasterio dataset (or the tiles of one mosaic) and returns a
``Display``: the three 1-based band indexes read as R, G, B (one band repeated for grey) and, for
data that is not 8-bit, the per-band 2nd..98th percentile stretch. The choice, in order:

  (a) the ``bands`` option: "4,3,2", "1" (grey) or a preset: sentinel2, landsat (B4/B3/B2 by band
      description, else indexes 4,3,2), rgbn (1,2,3), pan (1, grey);
  (b) the colour interpretation: red, green and blue bands; a single grey band;
  (c) band descriptions naming B4/B3/B2 (Sentinel-2 ``B04``/``B4``, Landsat 8-9 ``SR_B4``/``B4``) or red/green/blue;
  (d) the band count (alpha bands not counted): 1 -> grey, 3 -> 1,2,3, 4 -> RGBN 1,2,3;
otherwise ``RasterError`` with a one-line reason naming ``--bands``.

Scaling. 8-bit data is used as is. Other data (16-bit, 32-bit, float) gets a stretch per output
band: values at the 2nd and 98th percentile of that band's valid pixels map to 0 and 255. Per band,
not joint, because that is what GIS viewers do by default (QGIS's cumulative cut), and because the
offset that haze adds differs per band (blue most): a joint stretch keeps that offset as a blue-grey
cast, which the encoders (trained on white-balanced photographs) never saw. The percentiles come
from one decimated read per scene (long side at most ``STATS_SIDE``; GDAL serves it from internal
overviews when present), never a full-resolution read; nodata, alpha/internal masks and NaN are ignored.
The ``Display`` is plain JSON (``model_dump(mode="json")``), stored per image so later reads match.
Masks: ``tile_mask`` reads a dataset's valid-pixel mask (nodata, alpha, internal masks) at thumbnail size.
"""
from __future__ import annotations

import logging
import re
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from geoseek.schemas.errors import RasterError

log = logging.getLogger(__name__)

STATS_SIDE = 1024  # long side of the decimated read the percentiles are computed on
PERCENTILES = (2.0, 98.0)
PRESETS = ("sentinel2", "landsat", "rgbn", "pan")
Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in source pixels, x1/y1 exclusive
_BAND_NAME = re.compile(r"^(?:SR_|TOA_)?B(?:AND)?[\s_]*0*(\d{1,2}A?)\b")


class Display(BaseModel):
    """How an image is shown as 8-bit RGB.

    bands: 1-based band indexes read as R, G, B (the same index three times for grey);
    lo, hi: per output band, the source values mapped to 0 and 255 (None: 8-bit data used as is);
    dtype: the source data type; source: how the bands were chosen (for logs and ``geoseek info``);
    stacked: the image is separate band files, one per output band in R, G, B order (``geoseek.views.stack``).
    """

    model_config = ConfigDict(frozen=True)
    bands: tuple[int, int, int]
    lo: tuple[float, float, float] | None = None
    hi: tuple[float, float, float] | None = None
    dtype: str = "uint8"
    source: Literal["option", "colorinterp", "descriptions", "count", "image"] = "count"
    stacked: bool = False

    @property
    def grey(self) -> bool:
        return len(set(self.bands)) == 1


def parse_bands_option(text: str | None) -> str | tuple[int, ...] | None:
    """'4,3,2' -> (4, 3, 2); '1' -> (1,); a preset name -> the name; None/'' -> None. ValueError otherwise."""
    if text is None or not text.strip():
        return None
    t = text.strip().lower()
    if t in ("grey", "gray"):
        return "pan"
    if t in PRESETS:
        return t
    try:
        idx = tuple(int(v) for v in t.split(","))
    except ValueError:
        raise ValueError(f"--bands must be three band numbers like 4,3,2, one band, or one of {', '.join(PRESETS)}; "
                         f"got '{text}'") from None
    if len(idx) not in (1, 3) or min(idx) < 1:
        raise ValueError(f"--bands must name 3 bands (R,G,B) or 1 (grey), numbered from 1; got '{text}'")
    return idx


def _colour_bands(ds) -> list[int]:
    """1-based indexes of the non-alpha bands."""
    from rasterio.enums import ColorInterp

    return [i + 1 for i, ci in enumerate(ds.colorinterp) if ci != ColorInterp.alpha]


def _by_colorinterp(ds) -> tuple[int, int, int] | None:
    from rasterio.enums import ColorInterp

    ci = list(ds.colorinterp)
    found = {c: ci.index(c) + 1 for c in (ColorInterp.red, ColorInterp.green, ColorInterp.blue) if c in ci}
    if len(found) == 3:
        return found[ColorInterp.red], found[ColorInterp.green], found[ColorInterp.blue]
    colour = _colour_bands(ds)
    if len(colour) == 1 and ci[colour[0] - 1] == ColorInterp.gray:
        return (colour[0],) * 3
    return None


def _by_descriptions(ds) -> tuple[int, int, int] | None:
    """B4/B3/B2 (Sentinel-2 and Landsat 8-9 red, green, blue) or red/green/blue in the band descriptions."""
    names: dict[str, int] = {}
    for i, d in enumerate(ds.descriptions or ()):
        if not d:
            continue
        text = d.strip().upper()
        m = _BAND_NAME.match(text)
        key = m.group(1) if m else text.split()[0] if text.split() else ""
        names.setdefault(key, i + 1)
    for r, g, b in (("4", "3", "2"), ("RED", "GREEN", "BLUE")):
        if r in names and g in names and b in names:
            return names[r], names[g], names[b]
    return None


def _by_option(ds, opt: str | tuple[int, ...]) -> tuple[int, int, int]:
    if isinstance(opt, tuple):
        if max(opt) > ds.count:
            raise RasterError(f"--bands {','.join(map(str, opt))} names band {max(opt)}, but the file has {ds.count} band(s)")
        return (opt * 3)[:3] if len(opt) == 1 else opt  # type: ignore[return-value]
    if opt == "pan":
        return (1, 1, 1)
    if opt == "rgbn":
        need = 3
        chosen = (1, 2, 3)
    else:  # sentinel2, landsat: red, green, blue are B4, B3, B2 in both
        chosen = _by_descriptions(ds) or (4, 3, 2)
        need = max(chosen)
    if ds.count < need:
        raise RasterError(f"--bands {opt} needs at least {need} bands; the file has {ds.count}")
    return chosen


def choose_bands(ds, option: str | None = None) -> tuple[tuple[int, int, int], str]:
    """(R, G, B band indexes, how they were chosen) for an open rasterio dataset; RasterError when no rule applies."""
    try:
        opt = parse_bands_option(option)
    except ValueError as exc:
        raise RasterError(str(exc)) from None
    if opt is not None:
        return _by_option(ds, opt), "option"
    found = _by_colorinterp(ds)
    if found:
        return found, "colorinterp"
    found = _by_descriptions(ds)
    if found:
        return found, "descriptions"
    colour = _colour_bands(ds)
    if len(colour) == 1:
        return (colour[0],) * 3, "count"  # type: ignore[return-value]
    if len(colour) in (3, 4):
        return (colour[0], colour[1], colour[2]), "count"
    raise RasterError(f"unsupported band layout: {ds.count} band(s) of {ds.dtypes[0]} with no colour interpretation "
                      f"or band names to pick RGB from; use --bands (e.g. --bands 4,3,2 or a preset: {', '.join(PRESETS)})")


def _check_dtype(dtype: str) -> None:
    kind = np.dtype(dtype).kind
    if kind not in "uif":
        raise RasterError(f"unsupported band layout: data type {dtype} cannot be shown as RGB")


def unique_bands(bands: tuple[int, int, int]) -> tuple[list[int], list[int]]:
    """(distinct band indexes to read, position in that list of each of R, G, B)."""
    uniq = sorted(set(bands))
    return uniq, [uniq.index(b) for b in bands]


def sample_valid(ds, bands: tuple[int, int, int], scale: float) -> list[np.ndarray]:
    """One decimated, masked read of ``bands`` at ``scale`` of full size: per R, G, B the valid values (1-D float64)."""
    from rasterio.enums import Resampling

    uniq, pos = unique_bands(bands)
    shape = (len(uniq), max(1, round(ds.height * scale)), max(1, round(ds.width * scale)))
    try:
        arr = ds.read(uniq, out_shape=shape, resampling=Resampling.nearest, masked=True)
    except Exception as exc:
        raise RasterError(f"truncated or corrupt image data: {str(exc).splitlines()[0][:160]}") from exc
    data = np.ma.getdata(arr).astype(np.float64)
    valid = ~np.ma.getmaskarray(arr) & np.isfinite(data)
    return [data[p][valid[p]] for p in pos]


def stretch_limits(samples: list[np.ndarray]) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """(lo, hi) per band: the 2nd and 98th percentiles of each band's valid values; RasterError if none are valid."""
    if any(s.size == 0 for s in samples):
        raise RasterError("no valid pixels: every pixel is nodata or masked")
    lo, hi = [], []
    for s in samples:
        a, b = np.percentile(s, PERCENTILES)
        if b <= a:  # flat band: keep it flat, mapped to its own value's 0 (no division by zero)
            b = a + 1.0
        lo.append(float(a))
        hi.append(float(b))
    return tuple(lo), tuple(hi)  # type: ignore[return-value]


def decide_display(datasets: list, option: str | None = None, scene_size: tuple[int, int] | None = None) -> Display:
    """The ``Display`` of one raster: a rasterio dataset, or the tiles of one mosaic (same bands in each).

    ``scene_size``: (width, height) of the mosaic the tiles make up, so the decimated reads together have
    a long side of at most ``STATS_SIDE`` px; default: the first dataset's size.
    """
    first = datasets[0]
    bands, source = choose_bands(first, option)
    for ds in datasets[1:]:
        if ds.count != first.count:
            raise RasterError(f"mosaic tiles have different band counts ({first.count} and {ds.count})")
    dtype = first.dtypes[bands[0] - 1]
    for b in bands:
        _check_dtype(first.dtypes[b - 1])
    if all(first.dtypes[b - 1] == "uint8" for b in bands):
        return Display(bands=bands, dtype="uint8", source=source)
    w, h = scene_size or (first.width, first.height)
    scale = min(1.0, STATS_SIDE / max(w, h))
    per_tile = [sample_valid(ds, bands, scale) for ds in datasets]
    samples = [np.concatenate([t[c] for t in per_tile]) for c in range(3)]
    lo, hi = stretch_limits(samples)
    log.debug("display bands %s (%s), stretch %s..%s", bands, source, lo, hi)
    return Display(bands=bands, lo=lo, hi=hi, dtype=str(dtype), source=source)


def to_uint8(arr: np.ndarray, display: Display, mask: np.ndarray | None = None) -> np.ndarray:
    """(3, h, w) source values of the display's bands -> (h, w, 3) uint8 through its stretch.

    ``mask``: optional (h, w) or (3, h, w) bool, True where a pixel is invalid; those pixels become 0.
    """
    if display.lo is None or display.hi is None:
        out = np.clip(arr, 0, 255).astype(np.uint8) if arr.dtype != np.uint8 else arr
    else:
        lo = np.asarray(display.lo, np.float32).reshape(3, 1, 1)
        hi = np.asarray(display.hi, np.float32).reshape(3, 1, 1)
        scaled = (arr.astype(np.float32) - lo) * (255.0 / (hi - lo))
        out = np.clip(np.nan_to_num(scaled, nan=0.0), 0, 255).round().astype(np.uint8)
    if mask is not None:
        m = mask if mask.ndim == 3 else np.broadcast_to(mask, out.shape)
        out = np.where(m, 0, out).astype(np.uint8)
    return np.ascontiguousarray(out.transpose(1, 2, 0))


def grey_display(values: np.ndarray, valid: np.ndarray | None = None) -> Display:
    """The Display of a decoded single-band image (e.g. a 16-bit PNG): grey, stretched unless 8-bit.

    values: (h, w) any numeric dtype; valid: optional (h, w) bool. Percentiles come from a strided
    sample with a long side of at most ``STATS_SIDE``.
    """
    dtype = str(values.dtype)
    _check_dtype(dtype)
    if values.dtype == np.uint8:
        return Display(bands=(1, 1, 1), dtype="uint8", source="image")
    step = max(1, int(np.ceil(max(values.shape) / STATS_SIDE)))
    v = values[::step, ::step].astype(np.float64)
    ok = np.isfinite(v) if valid is None else (valid[::step, ::step] & np.isfinite(v))
    lo, hi = stretch_limits([v[ok]] * 3)
    return Display(bands=(1, 1, 1), lo=lo, hi=hi, dtype=dtype, source="image")


def thumb_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(w, h) of a thumbnail with its long side at most ``max_side`` (never upsampled)."""
    s = min(1.0, max_side / max(width, height))
    return max(1, round(width * s)), max(1, round(height * s))


def all_valid(ds) -> bool:
    """True when the rasterio dataset has no nodata, alpha or internal mask."""
    from rasterio.enums import MaskFlags

    return all(MaskFlags.all_valid in flags for flags in ds.mask_flag_enums)


def tile_mask(ds, box: Box, size: tuple[int, int]) -> np.ndarray:
    """(h, w) bool valid mask of ``box`` of one dataset, resampled to ``size`` (w, h)."""
    from rasterio.windows import Window

    x0, y0, x1, y1 = box
    if all_valid(ds):
        return np.ones((size[1], size[0]), bool)
    try:
        m = ds.dataset_mask(window=Window(x0, y0, x1 - x0, y1 - y0), out_shape=(size[1], size[0]))
    except Exception as exc:
        raise RasterError(f"truncated or corrupt image data: {str(exc).splitlines()[0][:160]}") from exc
    return m > 0
