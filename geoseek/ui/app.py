"""GeoSeek's Streamlit front end: `geoseek ui --api URL` (or `streamlit run geoseek/ui/app.py -- --api URL`).

Talks to the GeoSeek API over HTTP only. The API URL comes from ``--api``, else the
GEOSEEK_API_URL environment variable, else http://127.0.0.1:8000, and can be changed in the sidebar.
"""
from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from datetime import date

import streamlit as st

from geoseek.client import ApiClient, ApiError
from geoseek.ui.demo_queries import demo_query_texts
from geoseek.ui.views import caption_list, client_for, detail, image_grid, results_map

DEFAULT_API = "http://127.0.0.1:8000"
EXAMPLES = demo_query_texts()  # checked against the demo sample by tests/ui/test_demo_queries.py


def default_api() -> str:
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--api")
    known, _ = ap.parse_known_args()
    return known.api or os.environ.get("GEOSEEK_API_URL") or DEFAULT_API


def parse_bbox(text: str) -> tuple[float, float, float, float] | None:
    """'minx,miny,maxx,maxy' (WGS84 degrees) -> tuple; '' -> None; ValueError with a readable message."""
    if not text.strip():
        return None
    try:
        w, s, e, n = (float(v) for v in text.split(","))
    except ValueError:
        raise ValueError("bounding box must be four numbers: min lon, min lat, max lon, max lat") from None
    if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
        raise ValueError("bounding box must have min < max, longitudes in -180..180 and latitudes in -90..90")
    return w, s, e, n


def _index_settings(client: ApiClient) -> tuple[dict[str, float], list[str]]:
    """The index's fusion weights and levels (generic defaults when the API cannot be reached)."""
    fusion, levels = {"global": 0.5, "region": 0.3, "object": 0.2}, ["global", "region", "object"]
    try:
        stats = client.stats()
    except ApiError as exc:
        st.error(str(exc))
        return fusion, levels
    st.success(f"{stats['images']:,} images · {stats['captions']:,} captions · {sum(stats['views'].values()):,} views")
    st.caption(f"model `{stats['model'].get('id', '?')}` · index version {stats['version']}")
    levels = stats["levels"]
    return {lv: float(stats["fusion"].get(lv, 0.0)) for lv in levels}, levels


def sidebar() -> dict:
    """Connection, fusion weights, options and filters; returns the search settings."""
    with st.sidebar:
        st.title("GeoSeek")
        st.caption("Cross-modal search over remote-sensing archives")
        api = st.text_input("API URL", value=default_api(), key="api")
        client = client_for(api)
        fusion, levels = _index_settings(client)
        # The sliders start at the index's own (tuned) weights, and again whenever the index changes.
        if st.session_state.get("weights_from") != (api, fusion):
            st.session_state["weights_from"] = (api, fusion)
            for lv in ("global", "region", "object"):
                st.session_state[f"w_{lv}"] = fusion.get(lv, 0.0)
        st.subheader("Fusion weights")
        st.caption("The sliders start at the index's text->image weights. Left as they are, every search uses the "
                   "index's own weights for its direction (image->image and image->text are tuned apart).")
        global_only = st.toggle("Global only (baseline)", key="global_only",
                                help="One vector per image: what a plain CLIP index would return.")
        weights = {lv: st.slider(lv.capitalize(), 0.0, 1.0, step=0.05, key=f"w_{lv}",
                                 disabled=global_only or lv not in levels) for lv in ("global", "region", "object")}
        refine = st.checkbox("Zoom refine (text search)", key="refine",
                             help="Look closer at the best region of the top hits (encodes crops: slower).")
        k = st.slider("Results", 4, 48, 12, 4, key="k")
        st.subheader("Filters")
        bbox_text = st.text_input("Bounding box (WGS84)", key="bbox", placeholder="min lon, min lat, max lon, max lat")
        dates = None
        if st.checkbox("Date range", key="use_dates", help="Images without a date are left out when this is on."):
            dates = st.date_input("Acquired between", value=(date(2000, 1, 1), date.today()), key="dates",
                                  min_value=date(1900, 1, 1), max_value=date.today())
    error = None
    try:
        bbox = parse_bbox(bbox_text)
    except ValueError as exc:
        bbox, error = None, str(exc)
    start = end = None
    if dates is not None:
        if len(dates) == 0:
            error = "pick a date range, or switch the date filter off"
        else:
            start, end = (dates[0], dates[-1])
    changed = any(abs(weights[lv] - fusion.get(lv, 0.0)) > 1e-9 for lv in levels)
    return {"client": client, "api": api, "levels": ["global"] if global_only else levels,
            # The index's weights are sent by not sending any: only a user's change overrides them.
            "weights": weights if changed and not global_only else None,
            "refine": refine, "k": k, "bbox": bbox, "start": start, "end": end, "filter_error": error}


def run_search(cfg: dict, key: str, spinner: str, search: Callable[[], dict], problem: str | None = None) -> None:
    """Run one submitted search; its outcome (results, or a one-line error) is kept as ``{key}_results`` /
    ``{key}_error`` in the session, and the details of earlier results are closed."""
    for stale in (f"{key}_error", "detail", f"{key}-map-hit"):
        st.session_state.pop(stale, None)
    problem = cfg["filter_error"] or problem
    if problem:
        st.session_state[f"{key}_error"] = problem
        return
    with st.spinner(spinner):
        try:
            st.session_state[f"{key}_results"] = search()
        except ApiError as exc:
            st.session_state[f"{key}_error"] = str(exc)


def outcome(key: str) -> dict | None:
    """The kept results of a search, or None after showing its error."""
    if f"{key}_error" in st.session_state:
        st.error(st.session_state[f"{key}_error"])
        return None
    return st.session_state.get(f"{key}_results")


def text_tab(cfg: dict) -> None:
    with st.form("text-search", border=False):
        query = st.text_input("Describe what you are looking for", key="query",
                              placeholder="e.g. " + EXAMPLES[0])
        submitted = st.form_submit_button("Search", type="primary")
    st.caption("Try: " + " · ".join(f"*{e}*" for e in EXAMPLES))
    if submitted:
        run_search(cfg, "text", "Searching…", lambda: cfg["client"].search_text(  # shapes: the map's exact polygons
            query, k=cfg["k"], levels=cfg["levels"], weights=cfg["weights"], bbox=cfg["bbox"], start=cfg["start"],
            end=cfg["end"], refine=cfg["refine"], shapes=True), None if query.strip() else "Type a description first.")
    resp = outcome("text")
    if resp:
        st.caption(f"{len(resp['results'])} results in {resp['took_ms']:.0f} ms · levels {', '.join(resp['levels'])}")
        image_grid(cfg["api"], resp["results"], "text")
        results_map(resp["results"], "text")


def image_tab(cfg: dict) -> None:
    upload = st.file_uploader("Drop an aerial image", type=["jpg", "jpeg", "png", "tif", "tiff", "webp", "bmp"],
                              key="upload")
    if upload is None or st.session_state.get("image_results_for") != upload.file_id:
        for key in ("image_results", "image_error", "image_results_for"):  # results of another (or no) upload
            st.session_state.pop(key, None)
    if upload is not None:
        try:
            st.image(upload.getvalue(), width=200)
        except Exception:  # noqa: BLE001 - the preview only; the API says what is wrong with the file
            st.warning(f"{upload.name} cannot be previewed; searching will tell why.")
        if st.button("Find similar images and captions", key="image-search", type="primary"):
            st.session_state["image_results_for"] = upload.file_id
            data, client, args = upload.getvalue(), cfg["client"], dict(k=cfg["k"], levels=cfg["levels"], weights=cfg["weights"])
            run_search(cfg, "image", "Encoding the image and searching…", lambda: {
                "images": client.search_image(data, upload.name, "images", bbox=cfg["bbox"], start=cfg["start"],
                                              end=cfg["end"], shapes=True, **args),
                "texts": client.search_image(data, upload.name, "texts", **args)})
    res = outcome("image")
    if res:
        st.markdown("**Captions that describe it**")
        if cfg["bbox"] or cfg["start"]:
            st.caption("The bounding-box and date filters apply to similar images, not to captions.")
        caption_list(res["texts"]["results"])
        st.markdown("**Similar images**")
        image_grid(cfg["api"], res["images"]["results"], "image")
        results_map(res["images"]["results"], "image")


def main() -> None:
    st.set_page_config(page_title="GeoSeek", layout="wide")
    cfg = sidebar()
    text, image = st.tabs(["Search by text", "Search by image"])
    with text:
        text_tab(cfg)
    with image:
        image_tab(cfg)
    chosen = st.session_state.get("detail")
    if chosen:
        st.divider()
        detail(cfg["client"], cfg["api"], chosen)
        if st.button("Close details", key="close-details"):
            st.session_state.pop("detail")
            st.rerun()


if __name__ == "__main__":  # Streamlit runs the script as __main__; importing it (tests) runs nothing
    main()
