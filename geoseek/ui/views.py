"""Streamlit rendering of search results, captions, the image detail view and the results map.

Everything shown is fetched from the API through ApiClient; a failed call becomes a readable
st.error, never a traceback.
"""
from __future__ import annotations

from urllib.parse import urlsplit

import streamlit as st

from geoseek.client import ApiClient, ApiError
from geoseek.ui.draw import DEPTH, OBJECT, REGION, hit_overlay, views_overlay
from geoseek.ui.settings import load_settings

COLUMNS = 4
MAP_HEIGHT = 360
LEVEL_NAMES = {"global": "global", "region": "region", "object": "object"}


@st.cache_resource(show_spinner=False)
def client_for(api: str) -> ApiClient:
    """One HTTP client (connection pool) per API URL, shared across reruns."""
    return ApiClient(api)


@st.cache_data(show_spinner=False, max_entries=2048)
def thumbnail(api: str, image_id: str, size: int) -> bytes:
    """Thumbnails are immutable per image id: cache them across reruns."""
    return client_for(api).thumbnail(image_id, size)


def _scores(hit: dict) -> str:
    levels = " · ".join(f"{LEVEL_NAMES[lv]} {s:.3f}" for lv, s in hit["level_scores"].items())
    return f"**{hit['score']:.3f}** fused  \n{levels}"


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#%02x%02x%02x" % rgb


def image_grid(api: str, hits: list[dict], key: str) -> None:
    """Result thumbnails with their best region/object boxes, scores and a details button."""
    if not hits:
        st.info("No images match. Try other words, or loosen the filters.")
        return
    st.caption(f"Boxes: <span style='color:{_hex(REGION)}'>■ best region</span> · "
               f"<span style='color:{_hex(OBJECT)}'>■ best object</span>", unsafe_allow_html=True)
    for start in range(0, len(hits), COLUMNS):
        cols = st.columns(COLUMNS)
        for col, (rank, hit) in zip(cols, enumerate(hits[start : start + COLUMNS], start + 1)):
            with col:
                try:
                    st.image(hit_overlay(thumbnail(api, hit["image_id"], 320), hit), width="stretch",
                             output_format="PNG")  # lossless: JPEG smears the thin box outlines
                except ApiError as exc:
                    st.warning(f"thumbnail unavailable: {exc}")
                name = hit["path"].rsplit("/", 1)[-1]
                st.markdown(f"#{rank} `{name}`  \n{_scores(hit)}")
                if st.button("Details", key=f"{key}-details-{hit['image_id']}", width="stretch"):
                    st.session_state["detail"] = hit["image_id"]
                    if hit.get("bounds_wgs84"):  # the map (drawn after the grid) highlights it
                        st.session_state[f"{key}-map-hit"] = hit["image_id"]


def caption_list(hits: list[dict]) -> None:
    """Image->text results: each distinct caption once (the API groups captions that archives repeat
    across images), with its fused and per-level scores and how many captions in the index carry it."""
    if not hits:
        st.info("No captions in this index.")
        return
    rows = [{"caption": h["text"], "fused": round(h["score"], 3), **{lv: round(s, 3) for lv, s in h["level_scores"].items()},
             "in index": h.get("count", 1)} for h in hits]
    st.dataframe(rows, hide_index=True, width="stretch")


def results_map(hits: list[dict], key: str) -> None:
    """The georeferenced hits on a map: footprints, the chosen hit's boxes, graticule and scale bar (offline), and
    basemap tiles when GEOSEEK_BASEMAP_URL is set. The chosen hit is picked above the map; Details picks it too.
    Polygons are the hits' exact ``shapes`` (the search asked for them with shapes=true)."""
    geo = {h["image_id"]: f"#{rank} {h['path'].rsplit('/', 1)[-1]}" for rank, h in enumerate(hits, 1) if h.get("bounds_wgs84")}
    if not geo:
        return
    from geoseek.ui.map_layers import results_deck

    settings, problem = load_settings()
    if problem:
        st.error(f"No basemap: {problem}")
    st.markdown(f"**Map** · {len(geo)} georeferenced result(s) · footprints in WGS84")
    chosen = st.selectbox("Highlight on map", list(geo), format_func=geo.get, key=f"{key}-map-hit")
    view = results_deck(hits, chosen, settings.basemap_url, MAP_HEIGHT)
    st.pydeck_chart(view.deck, height=MAP_HEIGHT)
    st.caption(view.summary)
    if settings.basemap_url:
        host = urlsplit(settings.basemap_url).netloc
        st.caption(f"Basemap: {len(view.tiles)} tiles from {host}" + (f" · {settings.attribution()}" if settings.attribution() else ""))
    else:
        st.caption("No basemap (set GEOSEEK_BASEMAP_URL to an XYZ tile URL to add one); "
                   "coordinates and scale are drawn offline.")


def detail(client: ApiClient, api: str, image_id: str) -> None:
    """One image: its DRIS view tree drawn over it, captions, georeference and view counts."""
    try:
        rec = client.image(image_id)
        im = views_overlay(thumbnail(api, image_id, 640), rec)
    except ApiError as exc:
        st.error(f"Cannot show image {image_id}: {exc}")
        return
    name = rec["path"].rsplit("/", 1)[-1]
    st.subheader(f"Details · {name}")
    left, right = st.columns([3, 2])
    with left:
        st.image(im, width="stretch")
        legend = " ".join(f"<span style='color:{_hex(c)}'>■ depth {d}</span>" for d, c in enumerate(DEPTH[:5]))
        st.caption(f"DRIS views: {legend} · <span style='color:{_hex(OBJECT)}'>▫ objects</span>", unsafe_allow_html=True)
    with right:
        counts = {lv: sum(1 for v in rec["views"] if v["level"] == lv) for lv in ("global", "region", "object")}
        st.markdown("**Captions**")
        if rec["captions"]:
            for text in dict.fromkeys(c["text"] for c in rec["captions"]):
                st.markdown(f"- {text}")
        else:
            st.caption("none")
        meta = {"size": f"{rec['width']} x {rec['height']} px", "format": rec["format"], "collection": rec["collection"],
                "split": rec.get("split") or "-", "date": rec.get("datetime") or "-", "CRS": rec.get("crs") or "-",
                "bounds (WGS84)": ", ".join(f"{v:.5f}" for v in rec["bounds_wgs84"]) if rec.get("bounds_wgs84") else "-",
                "GSD": ", ".join(f"{v:.3g}" for v in rec["gsd"]) if rec.get("gsd") else "-",
                "views": ", ".join(f"{lv} {n}" for lv, n in counts.items())}
        st.markdown("**Georeference and metadata**")
        st.markdown("| field | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in meta.items()))
