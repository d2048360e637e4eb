"""GET /health: the only route that needs no token."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from apiflask import APIBlueprint, Schema, abort
from apiflask.fields import Boolean, String
from flask import current_app, request

from bridge.api.schemas import Responses, error_body

health_blueprint = APIBlueprint("health", __name__)
STOPPING_RETRY_AFTER = "5"


@dataclass(frozen=True)
class Readiness:
    ari: bool
    ami: bool
    database: bool
    stopping: bool = False  # the process got SIGTERM (bridge/stopping.py)

    @property
    def ready(self) -> bool:
        return self.ari and self.ami and self.database and not self.stopping

    @property
    def status(self) -> str:
        return "ok" if self.ready else "stopping" if self.stopping else "unavailable"


class HealthOut(Schema):
    status = String(required=True, metadata={"enum": ["ok", "unavailable", "stopping"]})
    ari = Boolean(required=True)
    ami = Boolean(required=True)
    database = Boolean(required=True)


NOT_READY: Responses = {503: error_body("not ready, or stopping",
                                        {"$ref": "#/components/schemas/HealthOut"})}


@health_blueprint.get("/health")
@health_blueprint.output(HealthOut, description="ready")
@health_blueprint.doc(summary="Readiness of ARI, AMI and the database",
                      responses=NOT_READY)
def health() -> tuple[dict[str, object], int]:
    readiness: Readiness = current_app.config["READINESS"]()
    body = {"status": readiness.status, "ari": readiness.ari, "ami": readiness.ami,
            "database": readiness.database}
    return body, 200 if readiness.ready else 503


def refuse_while_stopping(stopping: Callable[[], bool]) -> Callable[[], None]:
    """A before-request hook: once the process is stopping, a request on a connection
    that is still open gets 503 (the next ringbridge will serve it); /health says so."""

    def refuse() -> None:
        if stopping() and request.endpoint != "health.health":
            abort(503, message="ringbridge is stopping; retry shortly",
                  headers={"Retry-After": STOPPING_RETRY_AFTER})

    return refuse
