"""The results map's deck.gl layers, built in plain Python (no Streamlit): footprints, the chosen hit's
boxes, a graticule and a scale bar drawn offline, and an optional XYZ basemap.

Polygons are the hit's exact ``shapes`` when the API sent them (a search with shapes=true; the same
polygons as its GeoJSON output, see geoseek/search/geojson.py), else the hit's WGS84 bounds rectangle
and boxes interpolated in it. Basemap tiles are worked out here (slippy-map tile math) and drawn as one
BitmapLayer each, so no JavaScript callback is needed and no tile is requested without a URL.
"""
from __future__ import annotations

import logging
import math
from typing import NamedTuple

import pydeck as pdk

from geoseek.ui.draw import OBJECT, REGION, whole_image

log = logging.getLogger(__name__)

Bounds = tuple[float, float, float, float]  # west, south, east, north (WGS84 degrees)
MAX_LAT = 85.05112878  # the Web Mercator square's edge
MAX_TILES, MAX_TILE_ZOOM = 36, 19
FIT_PX, COVER_PX = 600, 2000  # canvas widths the view is fitted to / the graticule and tiles cover
A, E2 = 6378137.0, 6.69437999014e-3  # WGS84 semi-major axis (m) and first eccentricity squared
FOOTPRINT, GRID = (255, 60, 120), (90, 90, 90)


class MapView(NamedTuple):
    deck: pdk.Deck
    summary: str  # centre, extent, graticule step and scale bar, as one line of text
    tiles: list[str]  # the basemap tile URLs drawn


def nice(value: float, up: bool = False) -> float:
    """The 1/2/5 x 10^n number nearest below ``value`` (``up``: at or above it)."""
    exp = math.floor(math.log10(value))
    steps = [m * 10.0**e for e in (exp - 1, exp, exp + 1) for m in (1, 2, 5)]
    return min(s for s in steps if s >= value * (1 - 1e-9)) if up else max(s for s in steps if s <= value * (1 + 1e-9))


def world_xy(lon: float, lat: float) -> tuple[float, float]:
    """Web Mercator position in [0, 1] x [0, 1] (y grows southwards)."""
    phi = math.radians(max(-MAX_LAT, min(MAX_LAT, lat)))
    return (lon + 180.0) / 360.0, (1.0 - math.log(math.tan(phi) + 1.0 / math.cos(phi)) / math.pi) / 2.0


def lonlat(x: float, y: float) -> tuple[float, float]:
    """The inverse of world_xy."""
    return x * 360.0 - 180.0, math.degrees(math.atan(math.sinh(math.pi * (1.0 - 2.0 * y))))


def tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The XYZ tile at zoom ``z`` holding a point."""
    x, y = world_xy(lon, lat)
    n = 2**z
    return min(n - 1, max(0, int(x * n))), min(n - 1, max(0, int(y * n)))


def tile_bounds(x: int, y: int, z: int) -> Bounds:
    """(west, south, east, north) of tile z/x/y."""
    n = 2**z
    (w, north), (e, s) = lonlat(x / n, y / n), lonlat((x + 1) / n, (y + 1) / n)
    return w, s, e, north


def covering_tiles(bounds: Bounds, zoom: int, max_tiles: int = MAX_TILES) -> tuple[int, list[tuple[int, int]]]:
    """The highest zoom <= ``zoom`` whose tiles covering ``bounds`` are at most ``max_tiles``, and those tiles."""
    w, s, e, n = bounds
    for z in range(max(0, min(zoom, MAX_TILE_ZOOM)), -1, -1):
        (x0, y0), (x1, y1) = tile_xy(w, n, z), tile_xy(e, s, z)
        if (x1 - x0 + 1) * (y1 - y0 + 1) <= max_tiles:
            return z, [(x, y) for y in range(y0, y1 + 1) for x in range(x0, x1 + 1)]
    return 0, [(0, 0)]


def basemap_layers(template: str, bounds: Bounds, zoom: int) -> list[pdk.Layer]:
    """One BitmapLayer per XYZ tile of ``template`` covering ``bounds`` (``zoom`` lowered to fit MAX_TILES)."""
    z, tiles = covering_tiles(bounds, zoom)
    log.debug("basemap: %d tiles at zoom %d", len(tiles), z)
    return [pdk.Layer("BitmapLayer", id=f"basemap-{z}-{x}-{y}", bounds=list(tile_bounds(x, y, z)),
                      image='"' + template.replace("{z}", str(z)).replace("{x}", str(x)).replace("{y}", str(y)) + '"')
            for x, y in tiles]


def fmt_lat(v: float, decimals: int) -> str:
    return f"{abs(v):.{decimals}f}°{'N' if v >= 0 else 'S'}"


def fmt_lon(v: float, decimals: int) -> str:
    return f"{abs(v):.{decimals}f}°{'E' if v >= 0 else 'W'}"


def decimals_for(step: float) -> int:
    return max(0, math.ceil(-math.log10(step) - 1e-9))


def _text(id: str, rows: list[dict], anchor: str = "middle", baseline: str = "bottom") -> pdk.Layer:
    """Labels at lon/lat ``position``s; a row's own ``anchor``/``baseline`` win over the layer's."""
    rows = [{"anchor": anchor, "baseline": baseline, **r} for r in rows]
    return pdk.Layer("TextLayer", rows, id=id, get_position="position", get_text="text", get_size=12,
                     get_color=[30, 30, 30], get_text_anchor="anchor", get_alignment_baseline="baseline",
                     character_set='"auto"', background=True, get_background_color=[255, 255, 255, 190])


def graticule(fit: Bounds, cover: Bounds) -> tuple[float, list[pdk.Layer]]:
    """Lines every ``step`` degrees (1/2/5 x 10^n, 2 to 5 across ``fit``) over ``cover``, labelled just inside
    ``fit``'s north (longitudes) and west (latitudes) edges, which are on screen; returns (step, layers)."""
    step, (w, s, e, n) = nice(max(fit[2] - fit[0], fit[3] - fit[1]) / 4, up=True), cover
    d = decimals_for(step)
    lons = [round(i * step, 12) for i in range(math.ceil(w / step), math.floor(e / step) + 1)][:80]
    lats = [round(i * step, 12) for i in range(math.ceil(s / step), math.floor(n / step) + 1)][:80]
    paths = [{"path": [[x, s], [x, n]]} for x in lons] + [{"path": [[w, y], [e, y]]} for y in lats]
    labels = ([{"position": [x, fit[3]], "text": fmt_lon(x, d), "baseline": "top"} for x in lons]
              + [{"position": [fit[0], y], "text": fmt_lat(y, d), "anchor": "start"} for y in lats])
    return step, [pdk.Layer("PathLayer", paths, id="graticule", get_path="path", get_color=[*GRID, 140], width_min_pixels=1),
                  _text("graticule-labels", labels)]


def metres_per_degree_lon(lat: float) -> float:
    """Length of one degree of longitude along the parallel at ``lat`` on the WGS84 ellipsoid."""
    phi = math.radians(lat)
    return math.radians(1.0) * A * math.cos(phi) / math.sqrt(1.0 - E2 * math.sin(phi) ** 2)


def scale_label(metres: float) -> str:
    return f"{metres:g} m" if metres < 1000 else f"{metres / 1000:g} km"


def scale_bar(fit: Bounds) -> tuple[float, list[list[float]], list[pdk.Layer]]:
    """A 1/2/5 x 10^n m bar at most a quarter of ``fit``'s width, in its south-west corner: (metres, [start, end], layers)."""
    w, s, e, n = fit
    lon0, lat0 = w + 0.05 * (e - w), s + 0.07 * (n - s)
    mpd = metres_per_degree_lon(lat0)
    metres = nice((e - w) * mpd / 4)
    lon1, tick = lon0 + metres / mpd, 0.02 * (n - s)
    path = [[lon0, lat0 + tick], [lon0, lat0], [lon1, lat0], [lon1, lat0 + tick]]
    label = [{"position": [(lon0 + lon1) / 2, lat0 + tick], "text": scale_label(metres)}]
    return metres, [[lon0, lat0], [lon1, lat0]], [
        pdk.Layer("PathLayer", [{"path": path}], id="scale-bar", get_path="path", get_color=[20, 20, 20], width_min_pixels=3),
        _text("scale-label", label)]


def _box_ring(hit: dict, box: dict) -> list[list[float]]:
    """A pixel box as a lon/lat rectangle, interpolated in the hit's WGS84 bounds (north-up approximation)."""
    w, s, e, n = hit["bounds_wgs84"]
    x0, x1 = (w + (e - w) * box[k] / hit["width"] for k in ("x0", "x1"))
    y0, y1 = (n - (n - s) * box[k] / hit["height"] for k in ("y0", "y1"))
    return [[x0, y1], [x1, y1], [x1, y0], [x0, y0], [x0, y1]]


def _exact_ring(hit: dict, kind: str) -> list[list[float]] | None:
    """The exterior ring of the hit's exact ``kind`` polygon (footprint, region, object), when the API sent it."""
    shape = (hit.get("shapes") or {}).get(kind)
    return shape["coordinates"][0] if shape else None


def chosen_boxes(hit: dict) -> dict[str, list[list[float]]]:
    """The hit's best region and object boxes as WGS84 rings: its exact shapes (from the same response, so of
    these very boxes), else interpolated in the bounds. A box covering the whole image is its footprint and is
    left out."""
    out = {}
    for kind in ("region", "object"):
        box = hit.get(f"{kind}_box")
        if not box or whole_image(box, hit):
            continue
        out[kind] = _exact_ring(hit, kind) or _box_ring(hit, box)
    return out


def fit_view(bounds: Bounds, height_px: int) -> tuple[float, float, float, Bounds]:
    """(longitude, latitude, zoom) fitting ``bounds`` into a FIT_PX x ``height_px`` canvas, and the extent a
    COVER_PX-wide canvas then shows (deck.gl's world is 512 * 2^zoom px wide)."""
    (x0, y1), (x1, y0) = world_xy(bounds[0], bounds[1]), world_xy(bounds[2], bounds[3])
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    zoom = min(20.0, math.log2(min(FIT_PX / max(x1 - x0, 1e-12), height_px / max(y1 - y0, 1e-12)) / 512))
    hx, hy = COVER_PX / 2 / (512 * 2**zoom), height_px / 2 / (512 * 2**zoom)
    (w, n), (e, s) = lonlat(max(0.0, cx - hx), max(0.0, cy - hy)), lonlat(min(1.0, cx + hx), min(1.0, cy + hy))
    lon, lat = lonlat(cx, cy)
    return lon, lat, zoom, (w, s, e, n)


def _footprints(ranked: list[tuple[int, dict]]) -> list[dict]:
    """Each hit's footprint ring (its exact shape, else its bounds rectangle) with its rank, name and score."""
    out = []
    for rank, h in ranked:
        ring = _exact_ring(h, "footprint") or _box_ring(h, {"x0": 0, "y0": 0, "x1": h["width"], "y1": h["height"]})
        out.append({"rank": rank, "name": h["path"].rsplit("/", 1)[-1], "score": round(h["score"], 3), "polygon": ring,
                    "corner": [min(p[0] for p in ring), max(p[1] for p in ring)]})
    return out


def _polygons(id: str, rows: list[dict], colour: tuple[int, int, int], alpha: int, width: int, **kw) -> pdk.Layer:
    return pdk.Layer("PolygonLayer", rows, id=id, get_polygon="polygon", get_fill_color=[*colour, alpha],
                     get_line_color=[*colour], line_width_min_pixels=width, **kw)


def results_deck(hits: list[dict], chosen: str | None, basemap: str | None, height_px: int = 360) -> MapView | None:
    """The map of the georeferenced ``hits`` (None without any): basemap tiles, graticule, footprints with rank
    labels, the ``chosen`` hit's (first hit's by default) region and object boxes, and a scale bar."""
    ranked = [(rank, h) for rank, h in enumerate(hits, 1) if h.get("bounds_wgs84")]
    if not ranked:
        return None
    feet = _footprints(ranked)
    pts = [p for f in feet for p in f["polygon"]]
    data = (min(p[0] for p in pts), min(p[1] for p in pts), max(p[0] for p in pts), max(p[1] for p in pts))
    pad = 0.1 * max(data[2] - data[0], data[3] - data[1], 1e-6)
    fit = (data[0] - pad, data[1] - pad, data[2] + pad, data[3] + pad)
    lon, lat, zoom, cover = fit_view(fit, height_px)
    tiles = basemap_layers(basemap, cover, math.ceil(zoom + 1)) if basemap else []
    step, grid = graticule(fit, cover)
    pick = next((h for _, h in ranked if h["image_id"] == chosen), ranked[0][1])
    boxes = [_polygons(f"chosen-{kind}", [{"polygon": ring}], REGION if kind == "region" else OBJECT, 50, 3)
             for kind, ring in chosen_boxes(pick).items()]
    metres, _, bar = scale_bar(fit)
    layers = [*tiles, *grid, _polygons("footprints", feet, FOOTPRINT, 30, 2, pickable=True),
              _text("footprint-labels", [{"position": f["corner"], "text": f"#{f['rank']}"} for f in feet], "start"),
              *boxes, *bar]
    d = decimals_for(step) + 1
    summary = (f"centre {fmt_lat(lat, d)}, {fmt_lon(lon, d)} · results span {fmt_lon(data[0], d)} to {fmt_lon(data[2], d)}, "
               f"{fmt_lat(data[1], d)} to {fmt_lat(data[3], d)} · graticule every {step:g}° · scale bar {scale_label(metres)}")
    deck = pdk.Deck(layers=layers, map_style=None, tooltip={"text": "#{rank} {name}\nscore {score}"},
                    initial_view_state=pdk.ViewState(longitude=lon, latitude=lat, zoom=zoom))
    return MapView(deck, summary, [t.image for t in tiles])
