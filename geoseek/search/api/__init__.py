"""The HTTP API (FastAPI): create_app(ApiSettings(index=...))."""
from geoseek.search.api.app import create_app
from geoseek.search.api.settings import ApiSettings

__all__ = ["ApiSettings", "create_app"]
