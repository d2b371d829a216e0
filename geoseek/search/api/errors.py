"""Every failure a client can cause becomes a 4xx with a JSON body {"detail": "..."}, never a 500;
a vector store that fails (Milvus down) is a 503 with the same body."""
from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from geoseek.search.engine import QueryError, UnknownImageError
from geoseek.search.filters import FilterError
from geoseek.search.query import QueryImageError
from geoseek.search.vector_store import StoreError


def _json(status: int, detail: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": detail})


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(UnknownImageError)
    async def _unknown(_: Request, exc: UnknownImageError) -> JSONResponse:
        return _json(404, f"unknown image id '{exc.args[0]}'")

    @app.exception_handler(QueryImageError)
    async def _bad_image(_: Request, exc: QueryImageError) -> JSONResponse:
        return _json(415 if str(exc).startswith("unsupported image format") else 400, str(exc))

    @app.exception_handler(QueryError)
    async def _bad_query(_: Request, exc: QueryError) -> JSONResponse:
        return _json(400, str(exc))

    @app.exception_handler(FilterError)
    async def _bad_filter(_: Request, exc: FilterError) -> JSONResponse:
        return _json(400, str(exc))

    @app.exception_handler(StoreError)
    async def _store_down(_: Request, exc: StoreError) -> JSONResponse:
        return _json(503, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errs = exc.errors()
        first = errs[0] if errs else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        return _json(422, f"{where}: {first.get('msg')}" if where else str(first.get("msg")))
