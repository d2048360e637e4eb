"""Absolute URLs of this API in answers (a RingOut's `uri`, a call's `link`).

Built on the configured public URL (`public_url`; by default the address the API
listens on), never on the request's `Host` header, which any client can forge.
"""

from __future__ import annotations

from typing import Any

from apiflask import APIFlask
from flask import current_app, url_for

from bridge.config import Settings


def configure(app: APIFlask, settings: Settings) -> None:
    app.config["PUBLIC_URL"] = settings.api_url


def absolute_url(endpoint: str, **values: Any) -> str:
    return str(current_app.config["PUBLIC_URL"]) + url_for(endpoint, **values)
