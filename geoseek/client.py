"""The HTTP client of the GeoSeek API: every call returns parsed JSON/bytes or raises ApiError.

The UI and ``geoseek search --api`` use it: neither loads models or indices; everything they show
comes through these calls.
"""
from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

import httpx

log = logging.getLogger(__name__)


class ApiError(Exception):
    """A failed API call, with a message fit to show a user (no traceback)."""


def _detail(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:300] or resp.reason_phrase
    detail = body.get("detail") if isinstance(body, dict) else body
    if isinstance(detail, list):  # FastAPI validation errors: [{"loc": [...], "msg": ...}]
        return "; ".join(f"{'.'.join(str(x) for x in d.get('loc', [])[1:])}: {d.get('msg')}" for d in detail)
    return str(detail)


def _when(value: date | datetime, end: bool) -> str:
    """ISO 8601 as the API takes it: a datetime as given, a date as the whole day (``end`` inclusive)."""
    if isinstance(value, datetime):
        return value.isoformat()
    return f"{value.isoformat()}T{'23:59:59' if end else '00:00:00'}"


def _filter_fields(bbox: tuple[float, float, float, float] | None, start: date | None, end: date | None) -> dict[str, str]:
    """Filter fields as the API takes them; dates are whole days (``end`` inclusive), datetimes exact."""
    out = {}
    if bbox:
        out["bbox"] = ",".join(str(v) for v in bbox)
    if start:
        out["start"] = _when(start, end=False)
    if end:
        out["end"] = _when(end, end=True)
    return out


def _accept(geojson: bool) -> dict[str, str]:
    return {"Accept": "application/geo+json"} if geojson else {}


class ApiClient:
    """Synchronous client of one GeoSeek API base URL (e.g. http://127.0.0.1:8000)."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 120.0) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"X-API-Key": api_key} if api_key else {}
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            resp = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(f"cannot reach the GeoSeek API at {self.base_url} ({type(exc).__name__}); "
                           "is `geoseek serve` running?") from None
        if resp.status_code >= 400:
            raise ApiError(f"{_detail(resp)} (HTTP {resp.status_code})")
        return resp

    def stats(self) -> dict:
        """Counts, model, index kinds and the manifest's fusion weights (short timeout: it runs on every rerun)."""
        return self._call("GET", "/v1/stats", timeout=5.0).json()

    def search_text(self, query: str, k: int = 12, levels: list[str] | None = None, weights: dict | None = None,
                    bbox: tuple[float, float, float, float] | None = None, start: date | None = None,
                    end: date | None = None, refine: bool = False, collections: list[str] | None = None,
                    geojson: bool = False, shapes: bool = False) -> dict:
        """POST /v1/search/text; dates are whole days (``end`` inclusive), datetimes exact; ``geojson``:
        the GeoJSON FeatureCollection of the hits instead of the SearchResponse; ``shapes``: each hit also
        carries its exact WGS84 polygons (``shapes``: footprint, region, object; null without georeference)."""
        body: dict[str, Any] = {"query": query, "k": k, "refine": refine}
        if shapes:
            body["shapes"] = True
        if collections:
            body["collections"] = list(collections)
        if levels:
            body["levels"] = levels
        if weights:
            body["weights"] = weights
        body.update(_filter_fields(None, start, end))
        if bbox:
            body["bbox"] = list(bbox)
        return self._call("POST", "/v1/search/text", json=body, headers=_accept(geojson)).json()

    def search_image(self, data: bytes, filename: str, target: str = "images", k: int = 12,
                     levels: list[str] | None = None, weights: dict | None = None,
                     bbox: tuple[float, float, float, float] | None = None, start: date | None = None,
                     end: date | None = None, image_id: str | None = None, distinct: bool = True,
                     geojson: bool = False, shapes: bool = False) -> dict:
        """POST /v1/search/image with an uploaded file (or an indexed image id when ``data`` is empty).

        The bbox and date filters apply to similar images only (captions carry no place or date), and so does
        ``shapes`` (each hit's exact WGS84 polygons, as in ``search_text``; the API refuses it for target=texts).
        """
        form: dict[str, str] = {"target": target, "k": str(k)}
        if not distinct:
            form["distinct"] = "false"
        if shapes:
            form["shapes"] = "true"
        if levels:
            form["levels"] = ",".join(levels)
        if weights:
            form["weights"] = ",".join(str(weights[k]) for k in ("global", "region", "object"))
        if target == "images":
            form.update(_filter_fields(bbox, start, end))
        if image_id:
            return self._call("POST", "/v1/search/image", data={**form, "image_id": image_id}, headers=_accept(geojson)).json()
        return self._call("POST", "/v1/search/image", data=form, headers=_accept(geojson),
                          files={"file": (filename, data, "application/octet-stream")}).json()

    def image(self, image_id: str) -> dict:
        """Metadata, georeference, captions and views of an indexed image."""
        return self._call("GET", f"/v1/images/{image_id}").json()

    def thumbnail(self, image_id: str, size: int = 320) -> bytes:
        """JPEG of the whole image, long side at most ``size`` px."""
        return self._call("GET", f"/v1/images/{image_id}/thumbnail", params={"size": size}).content
