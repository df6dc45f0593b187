"""Command-line tasks: `flask users create-admin`, `flask tokens prune` and
`flask prune` (the daily pruning, for hosts without Celery beat)."""

from datetime import UTC, datetime

import click
from flask.cli import AppGroup, with_appcontext
from marshmallow import ValidationError

import blocklist
import changes
import idempotency
from db import db
from models import UserModel
from schemas import RegisterSchema

users_cli = AppGroup("users", help="Manage user accounts.")
tokens_cli = AppGroup("tokens", help="Manage issued tokens.")


@users_cli.command("create-admin")
@click.argument("username")
@click.option(
    "--password",
    help="Password to set. Prompted for (hidden) when a new user is created "
    "without it; an existing user keeps theirs unless it is given.",
)
def create_admin(username: str, password: str | None) -> None:
    """Create USERNAME as an admin, or make an existing user an admin."""
    user = UserModel.find_by_username(username.strip())
    if user is None and password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    fields: dict = {}
    if user is None or password is not None:
        given = {"username": user.username if user else username, "password": password}
        try:
            fields = RegisterSchema(only=("username", "password")).load(given)
        except ValidationError as error:
            for field, messages in error.normalized_messages().items():
                click.echo(f"{field}: {' '.join(messages)}", err=True)
            raise click.exceptions.Exit(2) from None
    if user is None:
        user = UserModel(username=fields["username"])
        db.session.add(user)
        action = "Created admin"
    else:
        action = "Granted admin rights to"
    if "password" in fields:
        user.set_password(fields["password"])
    user.is_admin = True
    db.session.commit()
    click.echo(f"{action} {user.username!r} (id {user.id}).")


@tokens_cli.command("prune")
def prune_tokens() -> None:
    """Delete blocklist entries whose tokens have expired anyway."""
    removed = blocklist.prune(datetime.now(UTC))
    click.echo(f"Pruned {removed} expired blocklist entries.")


@click.command("prune")
@with_appcontext
def prune_expired() -> None:
    """Delete everything expired, as beat's daily jobs do: revocations of
    expired tokens, idempotency keys past 24 hours, and the changes feed's
    tombstones past CHANGES_RETENTION_DAYS. For cron where no beat runs."""
    now = datetime.now(UTC)
    click.echo(f"Pruned {blocklist.prune(now)} expired blocklist entries.")
    click.echo(f"Pruned {idempotency.prune(now)} expired idempotency keys.")
    click.echo(f"Pruned {changes.prune(now)} tombstones of the changes feed.")


def init_app(app) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(tokens_cli)
    app.cli.add_command(prune_expired)
