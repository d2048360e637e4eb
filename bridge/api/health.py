"""GET /health: the only route that needs no token."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from apiflask import APIBlueprint, Schema
from apiflask.fields import Boolean, String
from flask import current_app

from bridge.api.schemas import Responses, error_body

health_blueprint = APIBlueprint("health", __name__)


@dataclass(frozen=True)
class Readiness:
    ari: bool
    ami: bool
    database: bool

    @property
    def ready(self) -> bool:
        return self.ari and self.ami and self.database


class HealthOut(Schema):
    status = String(required=True, metadata={"enum": ["ok", "unavailable"]})
    ari = Boolean(required=True)
    ami = Boolean(required=True)
    database = Boolean(required=True)


NOT_READY: Responses = {503: error_body("not ready", {"$ref": "#/components/schemas/HealthOut"})}


@health_blueprint.get("/health")
@health_blueprint.output(HealthOut, description="ready")
@health_blueprint.doc(summary="Readiness of ARI, AMI and the database",
                      responses=NOT_READY)
def health() -> tuple[dict[str, object], int]:
    readiness: Readiness = current_app.config["READINESS"]()
    body = {"status": "ok" if readiness.ready else "unavailable", **asdict(readiness)}
    return body, 200 if readiness.ready else 503
