"""The application factory: configuration, then each part of the app, in order.

Each part of this project is a module with an `init_app` that says what it
does; the database (db.py), migrations and the API's blueprints are wired as
their libraries have it.
"""

import os

from flask import Flask
from flask_migrate import Migrate

import audit
import auth
import cli
import config
import faults
import headers
import idempotency
import jobs
import passwords
import ratelimit
import swagger_ui
from api import Api
from db import db
from jsonio import JSONProvider
from resources.accounts import blp as accounts_blp
from resources.changes import blp as changes_blp
from resources.health import blp as health_blp
from resources.items import blp as items_blp
from resources.stores import blp as stores_blp
from resources.tags import blp as tags_blp
from resources.users import blp as users_blp

MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "migrations")
BLUEPRINTS = (
    stores_blp,
    items_blp,
    tags_blp,
    changes_blp,
    users_blp,
    accounts_blp,
    health_blp,
)


def create_app(overrides: dict | None = None) -> Flask:
    """Build the app: defaults, then the environment, then `overrides` (config.py)."""
    # The only static file is Swagger UI's start-up script.
    app = Flask(__name__, static_url_path="/swagger-ui/static")
    app.json = JSONProvider(app)
    config.load(app, overrides)

    db.init_app(app)
    Migrate(app, db, directory=MIGRATIONS_DIR, render_as_batch=True, compare_type=True)
    passwords.init_app(app)
    audit.init_app(app)
    auth.init_app(app)
    cli.init_app(app)
    jobs.init_app(app)
    idempotency.init_app(app)
    swagger_ui.init_app(app)
    api = Api(app)
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
    # After the blueprints: faults and rate limits wrap the registered views,
    # and the headers' ProxyFix wraps what faults.py wrapped.
    faults.init_app(app)
    ratelimit.init_app(app)
    headers.init_app(app)
    return app
