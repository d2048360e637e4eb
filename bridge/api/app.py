"""Flask application factory."""

from __future__ import annotations

from collections.abc import Callable

from apiflask import APIFlask

from bridge import __version__
from bridge.api.health import Readiness, health_blueprint


def create_app(readiness: Callable[[], Readiness]) -> APIFlask:
    app = APIFlask("ringbridge", title="ringbridge", version=__version__, docs_path="/docs",
                   spec_path="/openapi.json")
    app.config["READINESS"] = readiness
    app.register_blueprint(health_blueprint)
    return app
