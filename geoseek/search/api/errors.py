"""Every failure a client can cause becomes a 4xx with a JSON body {"detail": "..."}, never a 500;
a vector store that fails (Milvus down) is a 503 with the same body. GeoSeek's errors map to
statuses here, in one table.

A detail is short and tells a stranger nothing about the server: client input it repeats is cut
to ``MAX_ECHO`` characters, the whole message to ``MAX_DETAIL``, and paths are shown as the
``paths`` setting says (see ``exposure``).
"""
from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from geoseek.schemas.errors import (
    GeoSeekError,
    InputError,
    NoIndexError,
    QueryImageError,
    SourceUnreadableError,
    StoreError,
    UnknownImageError,
    UnsupportedImageError,
)
from geoseek.search.api.exposure import (
    MAX_DETAIL,
    PathMap,
    clip,
    path_map,
    strip_folders,
)

log = logging.getLogger(__name__)

# Most specific first: the first class an error is an instance of decides its status.
STATUS: tuple[tuple[type[GeoSeekError], int], ...] = (
    (UnknownImageError, 404),
    (SourceUnreadableError, 404),
    (UnsupportedImageError, 415),
    (QueryImageError, 400),
    (InputError, 400),
    (StoreError, 503),
    (NoIndexError, 503),
)

_LOCATIONS = ("body", "query", "path", "header", "form", "cookie")


def status_of(exc: GeoSeekError) -> int:
    """The HTTP status of one of GeoSeek's errors (500 for one no row covers: a bug, not the client)."""
    return next((code for cls, code in STATUS if isinstance(exc, cls)), 500)


def _json(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": clip(detail, MAX_DETAIL)}, headers=headers)


def _paths(request: Request) -> PathMap | None:
    """The PathMap of the version being served, or None before the engine is up."""
    engine = getattr(request.app.state, "engine", None)
    settings = getattr(request.app.state, "settings", None)
    if engine is None or settings is None:
        return None
    try:
        return path_map(engine.state(), settings.paths)
    except Exception:  # an error page must not fail itself
        log.exception("no index state to shorten paths in an error message with")
        return None


def public_message(request: Request, exc: GeoSeekError) -> str:
    """The one line a client sees for one of GeoSeek's errors."""
    if isinstance(exc, UnknownImageError):
        return f"unknown image id '{clip(exc.args[0])}'" if exc.args else "unknown image id"
    text = str(exc)
    pm = _paths(request)
    settings = getattr(request.app.state, "settings", None)
    if pm is not None:
        return pm.scrub(text)
    return text if settings is not None and settings.paths == "absolute" else strip_folders(text)


def validation_message(exc: RequestValidationError) -> str:
    """'field: what is wrong' of the first validation error, with the client's part cut short."""
    errs = exc.errors()
    first = errs[0] if errs else {"loc": (), "msg": "invalid request"}
    loc = list(first.get("loc", ()))
    if loc and loc[0] in _LOCATIONS:
        loc = loc[1:]
    where = clip(".".join(str(x) for x in loc))
    msg = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
    if not where or (loc and msg.startswith(f"{loc[-1]} ")):  # "query contains ...", not "query: query contains ..."
        return clip(msg, MAX_DETAIL)
    return clip(f"{where}: {msg}", MAX_DETAIL)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn GeoSeek's errors, invalid requests and HTTP errors into short JSON details."""

    @app.exception_handler(GeoSeekError)
    async def _geoseek(request: Request, exc: GeoSeekError) -> JSONResponse:
        status = status_of(exc)
        if status >= 500:
            log.warning("%s on %s: %s", type(exc).__name__, request.url.path[:200], exc)
        return _json(status, public_message(request, exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _json(422, validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> Response:
        headers = getattr(exc, "headers", None)
        if exc.status_code in (204, 304):  # no body allowed
            return Response(status_code=exc.status_code, headers=headers)
        return _json(exc.status_code, str(exc.detail), headers)
