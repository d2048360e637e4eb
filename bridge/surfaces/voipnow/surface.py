"""Registers the VoIPNow-style surface under /uapi/."""

from __future__ import annotations

from apiflask import APIFlask

from bridge.api.deps import Deps
from bridge.api.errors import add_format
from bridge.surfaces.voipnow.errors import ERROR_FORMAT
from bridge.surfaces.voipnow.phone_calls import phone_calls_blueprint


def register(app: APIFlask, deps: Deps) -> None:
    add_format(app, ERROR_FORMAT)
    app.register_blueprint(phone_calls_blueprint)
