"""The FastAPI application: model and index load once at start-up; one router per resource."""
from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

import geoseek
from geoseek.search.api import images, search, system
from geoseek.search.api.deps import require_api_key
from geoseek.search.api.errors import install_error_handlers
from geoseek.search.api.settings import ApiSettings
from geoseek.search.engine import SearchEngine


def create_app(settings: ApiSettings, engine: SearchEngine | None = None) -> FastAPI:
    """Build the app. The engine (index + model) is created at start-up unless one is passed in."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if getattr(app.state, "engine", None) is None:
            app.state.engine = SearchEngine(settings.index, device=settings.device, catalog_url=settings.catalog,
                                            store=settings.store)
        _ = app.state.engine.encoder  # load the model now, not on the first request
        yield

    app = FastAPI(title="GeoSeek", version=geoseek.__version__, lifespan=lifespan,
                  description="Cross-modal search for remote-sensing archives: text->image, image->text, image->image, "
                              "with global, region and object views fused per query.")
    app.state.settings = settings
    app.state.engine = engine
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["*"])
    install_error_handlers(app)
    guarded = [Depends(require_api_key)]
    app.include_router(system.router)
    app.include_router(search.router, dependencies=guarded)
    app.include_router(images.router, dependencies=guarded)
    return app
