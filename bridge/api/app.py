"""Flask application factory."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from apiflask import APIFlask
from flask import Response

from bridge import __version__
from bridge.api import docs, errors, json_body, metrics_route, urls
from bridge.api.auth import admins_only, document_admins_only
from bridge.api.deps import Deps, install
from bridge.api.health import Readiness, health_blueprint, refuse_while_stopping
from bridge.api.schemas import MAX_BODY, DocumentationPlugin
from bridge.api.security_log import log_security_events
from bridge.config import Settings
from bridge.gateway import EngineGateway, Positions
from bridge.panel import routes as panel
from bridge.store.session import Database
from bridge.surfaces.call_records import surface as call_records
from bridge.surfaces.dispatch_settings import surface as dispatch_settings
from bridge.surfaces.portsip import surface as portsip
from bridge.surfaces.ringcentral import surface as ringcentral
from bridge.surfaces.voipnow import surface as voipnow

# The API's surfaces, in the order their routes appear in /openapi.json.
SURFACES = (portsip, dispatch_settings, call_records, ringcentral, voipnow)

def create_app(database: Database, gateway: EngineGateway,
               readiness: Callable[[], Readiness], settings: Settings | None = None,
               stopping: Callable[[], bool] = lambda: False) -> APIFlask:
    settings = settings or Settings()
    app = APIFlask("ringbridge", title="ringbridge", version=__version__, docs_path="/docs",
                   spec_path="/openapi.json", spec_plugins=[DocumentationPlugin()])
    app.config.update(
        DATABASE=database, READINESS=readiness, STOPPING=stopping,
        VALIDATION_ERROR_STATUS_CODE=400, MAX_CONTENT_LENGTH=MAX_BODY,
        **docs.SETTINGS,
    )
    deps = Deps(database, gateway, settings, Positions.parse(settings.parking_positions))
    install(app.extensions, deps)
    errors.register(app)
    app.spec_processor(partial(document_spec, app))
    urls.configure(app, settings)
    json_body.register(app)
    app.before_request(metrics_route.started)
    app.before_request(admins_only)
    app.after_request(no_type_without_body)
    app.after_request(log_security_events)
    app.after_request(metrics_route.counted)
    app.before_request(refuse_while_stopping(stopping))
    app.register_blueprint(health_blueprint)
    app.register_blueprint(metrics_route.metrics_blueprint)
    app.register_blueprint(docs.swagger_ui_assets())
    for surface in SURFACES:
        surface.register(app, deps)
    panel.register(app, deps)
    return app


def document_spec(app: APIFlask, spec: dict[Any, Any] | str) -> dict[Any, Any] | str:
    """Each surface's error bodies (errors.py), and the management API's 403."""
    return document_admins_only(errors.document_error_bodies(spec, errors.error_formats(app)))


def no_type_without_body(response: Response) -> Response:
    """An answer with no body (an update, a destroy, a revoke...) names no content type:
    Flask calls an empty string text/html, and apiflask's 204 output JSON (werkzeug
    sends no body with a 204)."""
    if response.status_code == 204 or response.content_length == 0:
        response.headers.pop("Content-Type", None)
    return response
