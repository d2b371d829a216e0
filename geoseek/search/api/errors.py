"""Every failure a client can cause becomes a 4xx with a JSON body {"detail": "..."}, never a 500;
a vector store that fails (Milvus down) is a 503 with the same body. GeoSeek's errors map to
statuses here, in one table."""
from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

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


def status_of(exc: GeoSeekError) -> int:
    """The HTTP status of one of GeoSeek's errors (500 for one no row covers: a bug, not the client)."""
    return next((code for cls, code in STATUS if isinstance(exc, cls)), 500)


def _json(status: int, detail: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": detail})


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(GeoSeekError)
    async def _geoseek(_: Request, exc: GeoSeekError) -> JSONResponse:
        return _json(status_of(exc), str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errs = exc.errors()
        first = errs[0] if errs else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        return _json(422, f"{where}: {first.get('msg')}" if where else str(first.get("msg")))
