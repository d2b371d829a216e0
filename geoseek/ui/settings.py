"""The UI's own settings, from GEOSEEK_* environment variables (pydantic-settings).

Only the results map's basemap is configured here; the API URL comes from ``--api`` or
GEOSEEK_API_URL (see app.py). Without GEOSEEK_BASEMAP_URL the map requests no tile at all.
"""
from __future__ import annotations

import logging
from urllib.parse import urlsplit

from pydantic import ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)

OSM_ATTRIBUTION = "© OpenStreetMap contributors"


def check_tile_template(url: str) -> str:
    """``url`` if it is an XYZ tile template (http/https, a host, {z}, {x} and {y}); ValueError saying what is wrong."""
    missing = [p for p in ("{z}", "{x}", "{y}") if p not in url]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"GEOSEEK_BASEMAP_URL must be an http:// or https:// URL, got {url!r}")
    if missing:
        raise ValueError(f"GEOSEEK_BASEMAP_URL must contain {{z}}, {{x}} and {{y}} (an XYZ tile template such as "
                         f"https://tile.openstreetmap.org/{{z}}/{{x}}/{{y}}.png); {', '.join(missing)} missing in {url!r}")
    if any(c in url for c in "\"' "):
        raise ValueError(f"GEOSEEK_BASEMAP_URL must not contain quotes or spaces, got {url!r}")
    return url


class UiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GEOSEEK_")

    basemap_url: str | None = None  # XYZ tile template, e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png
    basemap_attribution: str | None = None  # shown under the map; OSM's by default for openstreetmap.org tiles

    @field_validator("basemap_url")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        return check_tile_template(value.strip()) if value and value.strip() else None

    def attribution(self) -> str:
        """The attribution to show under the basemap ('' without a basemap or a known one)."""
        if not self.basemap_url:
            return ""
        if self.basemap_attribution is not None:
            return self.basemap_attribution
        host = urlsplit(self.basemap_url).hostname or ""
        return OSM_ATTRIBUTION if host == "openstreetmap.org" or host.endswith(".openstreetmap.org") else ""


def load_settings() -> tuple[UiSettings, str | None]:
    """The settings from the environment, and a readable error instead of the basemap when its URL is malformed."""
    try:
        return UiSettings(), None
    except ValidationError as exc:
        message = "; ".join(str(e.get("ctx", {}).get("error", e["msg"])) for e in exc.errors())
        log.warning("basemap disabled: %s", message)
        return UiSettings(basemap_url=""), message
