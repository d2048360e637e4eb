"""Registers the PortSIP-style surface; its error body is the app-wide default."""

from __future__ import annotations

from apiflask import APIFlask

from bridge.api.deps import Deps
from bridge.api.errors import add_format
from bridge.surfaces.portsip.errors import ERROR_FORMAT, PORTSIP_ERROR_SCHEMA
from bridge.surfaces.portsip.extensions import extensions_blueprint
from bridge.surfaces.portsip.oauth import configure as configure_login
from bridge.surfaces.portsip.oauth import oauth_blueprint
from bridge.surfaces.portsip.ring_groups import ring_groups_blueprint


def register(app: APIFlask, deps: Deps) -> None:
    add_format(app, ERROR_FORMAT)
    app.config.update(HTTP_ERROR_SCHEMA=PORTSIP_ERROR_SCHEMA,
                      VALIDATION_ERROR_SCHEMA=PORTSIP_ERROR_SCHEMA)
    app.register_blueprint(extensions_blueprint)
    app.register_blueprint(ring_groups_blueprint)
    configure_login(app, deps.settings)
    app.register_blueprint(oauth_blueprint)
