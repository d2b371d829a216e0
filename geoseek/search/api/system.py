"""/v1/health and /v1/stats."""
from __future__ import annotations

from fastapi import APIRouter

from geoseek.schemas.api import Health, Stats
from geoseek.search.api.deps import EngineDep, SettingsDep, paths_of
from geoseek.search.api.exposure import scrub_strings

router = APIRouter(prefix="/v1", tags=["system"])


@router.get("/health", response_model=Health)
def health(engine: EngineDep) -> Health:
    return Health(status="ok", version=engine.state().version)


@router.get("/stats", response_model=Stats)
def stats(engine: EngineDep, settings: SettingsDep) -> Stats:
    state = engine.state()
    m = state.manifest
    # A model spec may be a local file (a config JSON, a checkpoint): shown like any other server path.
    model = scrub_strings(m.model.model_dump(), paths_of(engine, settings))
    return Stats(version=m.version, levels=m.levels, images=m.images, captions=m.captions, views=m.views.model_dump(by_alias=True),
                 model=model, indices={k: v.model_dump() for k, v in m.indices.items()},
                 fusion=m.fusion.text_to_image.model_dump(by_alias=True), fusion_by_direction=m.fusion.as_dict(),
                 store=state.vector_store.kind)
