"""What the app factory hands every surface: built once at startup."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from bridge.config import Settings
from bridge.gateway import EngineGateway, Positions
from bridge.store.session import Database

_KEY = "ringbridge"


@dataclass(frozen=True)
class Deps:
    database: Database
    gateway: EngineGateway
    settings: Settings
    parking: Positions  # the `parking_positions` setting: no extension may take one


def install(app_extensions: dict[str, object], deps: Deps) -> None:
    app_extensions[_KEY] = deps


def current_deps() -> Deps:
    """The running app's."""
    deps = current_app.extensions[_KEY]
    assert isinstance(deps, Deps)
    return deps
