"""Swagger UI at /swagger-ui, served whole by this app: no CDN, works offline.

flask-smorest renders the page (templates/swagger_ui.html, whose start-up
script is static/swagger-ui-init.js); the assets come from the swagger-ui
distribution that flask-swagger-ui ships. The page may load only this
server's scripts and styles and call only this API, and may not be framed.
"""

import os

import flask_swagger_ui
from flask import Blueprint, Flask, Response, request

ASSETS = os.path.join(os.path.dirname(flask_swagger_ui.__file__), "dist")
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def init_app(app: Flask) -> None:
    app.register_blueprint(
        Blueprint(
            "swagger_ui_assets",
            __name__,
            static_folder=ASSETS,
            static_url_path="/swagger-ui/assets",
        )
    )

    @app.after_request
    def content_security_policy(response: Response) -> Response:
        if request.path.startswith("/swagger-ui"):
            response.headers["Content-Security-Policy"] = CSP
        return response
