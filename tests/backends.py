"""The servers the suite runs against: SQLite always; PostgreSQL and Redis when reachable.

`TEST_DATABASE_URL` names a PostgreSQL database to connect to (default: the
loopback server's `test` database); the suite creates a database of its own
beside it and drops it at the end. `TEST_REDIS_URL` names the Redis server.
A server that cannot be reached skips the tests that need it, with the
reason, except under `CI=true`, where it fails them.
"""

import os
import uuid

import psycopg
import pytest
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

POSTGRES_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def unreachable(what: str, url: str, error: Exception):
    detail = str(error).splitlines()[0]
    reason = f"{what} is not reachable at {url} ({type(error).__name__}: {detail})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI=true requires it")
    pytest.skip(reason)


class PostgresServer:
    """Creates and drops databases of the suite's own on the server."""

    def __init__(self, url: str = POSTGRES_URL):
        self.url = make_url(url)
        try:
            self.admin = create_engine(
                self.url,
                isolation_level="AUTOCOMMIT",
                connect_args={"connect_timeout": 3},
            )
            with self.admin.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError as error:
            unreachable("PostgreSQL", self.url.render_as_string(), error)

    def create_database(self, template: str | None = None) -> str:
        """A new database; a copy of `template` (a database URL) when given."""
        name = f"stores_test_{uuid.uuid4().hex[:12]}"
        copy = f' TEMPLATE "{make_url(template).database}"' if template else ""
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"{copy}'))
        return self.url.set(database=name).render_as_string(hide_password=False)

    def drop_database(self, url: str) -> None:
        name = make_url(url).database
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        self.admin.dispose()


def admin_session(url: str) -> psycopg.Connection:
    """A psycopg session of its own on the PostgreSQL database at `url` (a
    SQLAlchemy URL), in autocommit: for what a test does beside the app."""
    plain = make_url(url).set(drivername="postgresql")
    return psycopg.connect(plain.render_as_string(hide_password=False), autocommit=True)


def redis_server(url: str = REDIS_URL) -> Redis:
    client = Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
    except RedisError as error:
        unreachable("Redis", url, error)
    return client


def delete_keys(client: Redis, prefix: str) -> None:
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)
