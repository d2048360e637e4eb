"""Flask application factory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apiflask import APIFlask
from flask import Response

from bridge import __version__
from bridge.api import docs, errors, json_body, urls
from bridge.api.auth import admins_only, document_admins_only
from bridge.api.call_records import call_records_blueprint
from bridge.api.call_records import configure as configure_call_records
from bridge.api.deps import Deps, install
from bridge.api.dispatch import dispatch_blueprint
from bridge.api.extensions import extensions_blueprint
from bridge.api.health import Readiness, health_blueprint, refuse_while_stopping
from bridge.api.oauth import configure as configure_login
from bridge.api.oauth import oauth_blueprint
from bridge.api.phone_calls import phone_calls_blueprint
from bridge.api.ring_groups import ring_groups_blueprint
from bridge.api.ringcentral_oauth import ringcentral_oauth_blueprint
from bridge.api.ringout import configure as configure_ringout
from bridge.api.ringout import ringout_blueprint
from bridge.api.schemas import MAX_BODY, PORTSIP_ERROR_SCHEMA, DocumentationPlugin
from bridge.config import Settings
from bridge.gateway import EngineGateway, Positions
from bridge.store.session import Database


def create_app(database: Database, gateway: EngineGateway,
               readiness: Callable[[], Readiness], settings: Settings | None = None,
               stopping: Callable[[], bool] = lambda: False) -> APIFlask:
    settings = settings or Settings()
    app = APIFlask("ringbridge", title="ringbridge", version=__version__, docs_path="/docs",
                   spec_path="/openapi.json", spec_plugins=[DocumentationPlugin()])
    app.config.update(
        DATABASE=database, READINESS=readiness,
        VALIDATION_ERROR_STATUS_CODE=400, MAX_CONTENT_LENGTH=MAX_BODY,
        **docs.SETTINGS,
        HTTP_ERROR_SCHEMA=PORTSIP_ERROR_SCHEMA, VALIDATION_ERROR_SCHEMA=PORTSIP_ERROR_SCHEMA,
    )
    install(app.extensions, Deps(database, gateway, settings,
                                 Positions.parse(settings.parking_positions)))
    errors.register(app)
    app.spec_processor(document_spec)
    urls.configure(app, settings)
    json_body.register(app)
    app.before_request(admins_only)
    app.after_request(no_type_without_body)
    app.before_request(refuse_while_stopping(stopping))
    app.register_blueprint(health_blueprint)
    app.register_blueprint(docs.swagger_ui_assets())
    app.register_blueprint(extensions_blueprint)
    app.register_blueprint(ring_groups_blueprint)
    configure_login(app, settings)
    app.register_blueprint(oauth_blueprint)
    app.register_blueprint(dispatch_blueprint)
    configure_call_records(app, settings)
    app.register_blueprint(call_records_blueprint)
    configure_ringout(app, settings)
    app.register_blueprint(ringout_blueprint)
    app.register_blueprint(ringcentral_oauth_blueprint)
    app.register_blueprint(phone_calls_blueprint)
    return app


def document_spec(spec: dict[Any, Any] | str) -> dict[Any, Any] | str:
    """Each surface's error bodies (errors.py), and the management API's 403."""
    return document_admins_only(errors.document_error_bodies(spec))


def no_type_without_body(response: Response) -> Response:
    """An answer with no body (an update, a destroy, a revoke...) names no content type:
    Flask calls an empty string text/html, and apiflask's 204 output JSON (werkzeug
    sends no body with a 204)."""
    if response.status_code == 204 or response.content_length == 0:
        response.headers.pop("Content-Type", None)
    return response
