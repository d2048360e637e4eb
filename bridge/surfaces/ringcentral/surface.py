"""Registers the RingCentral-style surface under /restapi/."""

from __future__ import annotations

from apiflask import APIFlask

from bridge.api.deps import Deps
from bridge.api.errors import add_format
from bridge.surfaces.ringcentral.account import account_blueprint
from bridge.surfaces.ringcentral.errors import ERROR_FORMATS
from bridge.surfaces.ringcentral.oauth import ringcentral_oauth_blueprint
from bridge.surfaces.ringcentral.rate_limits import install as install_rate_limits
from bridge.surfaces.ringcentral.ringout import configure, ringout_blueprint
from bridge.surfaces.ringcentral.subscriptions import configure as configure_webhooks
from bridge.surfaces.ringcentral.subscriptions import subscriptions_blueprint


def register(app: APIFlask, deps: Deps) -> None:
    for error_format in ERROR_FORMATS:
        add_format(app, error_format)
    configure(app, deps.settings)
    configure_webhooks(app, deps.settings)
    install_rate_limits(app, deps.settings)
    app.register_blueprint(ringout_blueprint)
    app.register_blueprint(account_blueprint)
    app.register_blueprint(subscriptions_blueprint)
    app.register_blueprint(ringcentral_oauth_blueprint)
