"""Dependencies: the engine handle and the optional API key."""
from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from geoseek.search.api.settings import ApiSettings
from geoseek.search.engine import SearchEngine


def get_settings(request: Request) -> ApiSettings:
    return request.app.state.settings


def get_engine(request: Request) -> SearchEngine:
    return request.app.state.engine


def require_api_key(settings: Annotated[ApiSettings, Depends(get_settings)],
                    x_api_key: Annotated[str | None, Header()] = None) -> None:
    if settings.api_key and not (x_api_key and secrets.compare_digest(x_api_key, settings.api_key)):
        raise HTTPException(status_code=401, detail="missing or wrong X-API-Key header")


EngineDep = Annotated[SearchEngine, Depends(get_engine)]
SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
