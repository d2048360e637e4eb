"""Registers /api/dispatch (in the /api/ error body, bridge/surfaces/portsip/errors.py)."""

from __future__ import annotations

from apiflask import APIFlask

from bridge.api.deps import Deps
from bridge.surfaces.dispatch_settings.routes import dispatch_blueprint


def register(app: APIFlask, deps: Deps) -> None:
    app.register_blueprint(dispatch_blueprint)
