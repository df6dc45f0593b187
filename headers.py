"""HTTP around every answer: security headers, CORS when configured, and the
proxies whose forwarded headers are believed (TRUSTED_PROXIES)."""

from flask import Flask, Response
from flask_cors import CORS
from werkzeug.middleware.proxy_fix import ProxyFix

# What a browser may send cross-origin, and read of the answer.
CORS_REQUEST_HEADERS = ["Authorization", "Content-Type", "If-Match", "If-None-Match"]
CORS_EXPOSED_HEADERS = ["ETag", "Location", "X-Pagination", "Retry-After"]


def init_app(app: Flask) -> None:
    if app.config["TRUSTED_PROXIES"]:
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops
        )
    if app.config["CORS_ORIGINS"]:
        CORS(
            app,
            origins=app.config["CORS_ORIGINS"],
            allow_headers=CORS_REQUEST_HEADERS,
            expose_headers=CORS_EXPOSED_HEADERS,
            max_age=600,
        )

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        return response
