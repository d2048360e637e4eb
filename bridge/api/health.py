"""GET /health: the only route that needs no token."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from apiflask import APIBlueprint
from flask import current_app

health_blueprint = APIBlueprint("health", __name__)


@dataclass(frozen=True)
class Readiness:
    ari: bool
    ami: bool
    database: bool

    @property
    def ready(self) -> bool:
        return self.ari and self.ami and self.database


@health_blueprint.get("/health")
@health_blueprint.doc(summary="Readiness of ARI, AMI and the database",
                      responses={200: "ready", 503: "not ready"})
def health() -> tuple[dict[str, object], int]:
    readiness: Readiness = current_app.config["READINESS"]()
    body = {"status": "ok" if readiness.ready else "unavailable", **asdict(readiness)}
    return body, 200 if readiness.ready else 503
