"""`/docs` without a CDN: Swagger UI's own files, from the flask-swagger-ui package.

APIFlask's docs page loads Swagger UI from the URLs in its settings (a CDN by default,
so the page is blank offline); these settings point them at the copy installed with
ringbridge, served under `/docs/assets/`.
"""

from __future__ import annotations

from importlib.resources import files

from flask import Blueprint

ASSETS = "/docs/assets"
SETTINGS = {
    "SWAGGER_UI_CSS": f"{ASSETS}/swagger-ui.css",
    "SWAGGER_UI_BUNDLE_JS": f"{ASSETS}/swagger-ui-bundle.js",
    "SWAGGER_UI_STANDALONE_PRESET_JS": f"{ASSETS}/swagger-ui-standalone-preset.js",
    "DOCS_FAVICON": f"{ASSETS}/favicon-32x32.png",
}


def swagger_ui_assets() -> Blueprint:
    """Swagger UI's files (the `dist` folder flask-swagger-ui ships) as static files."""
    return Blueprint("swagger_ui_assets", __name__,
                     static_folder=str(files("flask_swagger_ui") / "dist"),
                     static_url_path=ASSETS)
