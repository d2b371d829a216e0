"""/v1/health and /v1/stats."""
from __future__ import annotations

from fastapi import APIRouter

from geoseek.schemas.api import Health, Stats
from geoseek.search.api.deps import EngineDep

router = APIRouter(prefix="/v1", tags=["system"])


@router.get("/health", response_model=Health)
def health(engine: EngineDep) -> Health:
    return Health(status="ok", version=engine.state().version)


@router.get("/stats", response_model=Stats)
def stats(engine: EngineDep) -> Stats:
    state = engine.state()
    m = state.manifest
    return Stats(version=m.version, levels=m.levels, images=m.images, captions=m.captions, views=m.views.model_dump(by_alias=True),
                 model=m.model.model_dump(), indices={k: v.model_dump() for k, v in m.indices.items()},
                 fusion=m.fusion.model_dump(by_alias=True), store=state.vector_store.kind)
