"""Registers /api/call_records (in the /api/ error body, bridge/surfaces/portsip/errors.py)."""

from __future__ import annotations

from apiflask import APIFlask

from bridge.api.deps import Deps
from bridge.surfaces.call_records.routes import call_records_blueprint, configure


def register(app: APIFlask, deps: Deps) -> None:
    configure(app, deps.settings)
    app.register_blueprint(call_records_blueprint)
