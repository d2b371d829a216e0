"""API settings, from arguments or GEOSEEK_* environment variables (pydantic-settings).

What the API exposes is set here (and documented in README, "Exposing the API"): the API key, CORS
origins, the upload and crop caps, and how image paths are shown (``paths``).
"""
from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from geoseek.search.api.exposure import PathMode


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GEOSEEK_")

    index: Path
    catalog: str | None = None
    store: str | None = None  # vector store: faiss (default), milvus://host:port or a Milvus Lite .db path
    device: str = "auto"
    api_key: str | None = None  # when set, every endpoint but /v1/health needs header X-API-Key
    cors_origins: list[str] = []  # CORS is off unless origins are listed
    max_upload_bytes: int = 20 * 1024 * 1024
    max_crop_side: int = 2048
    # How image paths appear in responses and error messages: relative to the source folder they
    # were indexed from (default), hidden (empty strings), or absolute as in the catalog.
    paths: PathMode = "relative"
