"""Dependencies: the engine handle, the optional API key, the path map, and strict parameter types."""
from __future__ import annotations

import re
import secrets
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Path, Request
from pydantic import AfterValidator, BeforeValidator

from geoseek.schemas.search import check_clean
from geoseek.search.api.exposure import PathMap, path_map
from geoseek.search.api.settings import ApiSettings
from geoseek.search.engine import SearchEngine

MAX_ID_CHARS = 64  # image ids are 20 hex characters; anything much longer is not one
_DIGITS = re.compile(r"[0-9]{1,9}")


def get_settings(request: Request) -> ApiSettings:
    return request.app.state.settings


def get_engine(request: Request) -> SearchEngine:
    return request.app.state.engine


def require_api_key(settings: Annotated[ApiSettings, Depends(get_settings)],
                    x_api_key: Annotated[str | None, Header()] = None) -> None:
    if settings.api_key and not (x_api_key and secrets.compare_digest(x_api_key, settings.api_key)):
        raise HTTPException(status_code=401, detail="missing or wrong X-API-Key header")


def paths_of(engine: SearchEngine, settings: ApiSettings) -> PathMap:
    """How the current version's paths are shown (``settings.paths``)."""
    return path_map(engine.state(), settings.paths)


def clean(name: str) -> AfterValidator:
    """A validator refusing control characters in a string parameter (422 '<name> contains control characters')."""
    return AfterValidator(lambda v: v if v is None else check_clean(v, name))


def _form_int(value: object) -> object:
    """A form integer is decimal digits only: not 'true', '5.0', '+5' or '5_000'."""
    if isinstance(value, str) and not _DIGITS.fullmatch(value):
        raise ValueError("must be a whole number in decimal digits")
    return value


FormInt = BeforeValidator(_form_int)
ImageIdPath = Annotated[str, Path(max_length=MAX_ID_CHARS, description="The id of an indexed image."), clean("image_id")]
EngineDep = Annotated[SearchEngine, Depends(get_engine)]
SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
