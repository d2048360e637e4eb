"""The `ringbridge` command."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy.orm import Session

from bridge import __version__
from bridge.config import ConfigError, Settings, load_settings
from bridge.services.errors import ServiceError
from bridge.services.tenants import (
    create_tenant,
    create_user,
    find_tenant,
    find_user,
    hash_password,
    issue_token,
    list_tenants,
    revoke_token,
)
from bridge.store.ids import encode_id
from bridge.store.migrate import upgrade
from bridge.store.session import Database


@click.group()
@click.version_option(__version__, prog_name="ringbridge")
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              envvar="RINGBRIDGE_CONFIG", help="TOML config file (environment wins over it).")
@click.pass_context
def main(ctx: click.Context, config_file: str | None) -> None:
    """ringbridge: call-control bridge for Asterisk."""
    try:
        settings = load_settings(config_file)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    logging.basicConfig(
        level=settings.log_level.upper(), stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # One line per ARI request is noise; the engine logs what happened to each call.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("panoramisk").setLevel(logging.INFO)
    ctx.obj = settings


@main.command()
@click.pass_obj
def serve(settings: Settings) -> None:
    """Run the HTTP API and the telephony engine."""
    from bridge.service import serve as run_service

    try:
        run_service(settings)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


@contextmanager
def _session(settings: Settings) -> Iterator[Session]:
    """A session on an up-to-date database; service errors become clean CLI errors."""
    database = Database(settings.database_url)
    try:
        upgrade(database)
        with database.session() as session:
            yield session
    except ServiceError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        database.dispose()


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.pass_obj
def db_upgrade(settings: Settings) -> None:
    """Apply every pending migration (serve does this too)."""
    database = Database(settings.database_url)
    upgrade(database)
    database.dispose()
    click.echo("database is up to date")


@main.group()
def tenants() -> None:
    """Tenants (companies)."""


@tenants.command("create")
@click.option("--company-id", required=True, help="The dispatch companyId, e.g. '1645780'.")
@click.option("--name", default="", help="Display name (default: the company id).")
@click.option("--sip-domain", required=True, help="SIP domain its phones register with.")
@click.option("--region", default="US", show_default=True,
              help="ISO country for numbers written without +.")
@click.pass_obj
def tenants_create(settings: Settings, company_id: str, name: str, sip_domain: str,
                   region: str) -> None:
    """Create a tenant."""
    with _session(settings) as session:
        tenant = create_tenant(session, company_id, name, sip_domain, region)
        click.echo(f"tenant {tenant.company_id!r} created (SIP domain {tenant.sip_domain})")


@tenants.command("list")
@click.pass_obj
def tenants_list(settings: Settings) -> None:
    """List tenants."""
    with _session(settings) as session:
        for tenant in list_tenants(session):
            click.echo(f"{tenant.company_id}\t{tenant.name}\t{tenant.sip_domain}\t"
                       f"{tenant.region}")


@main.group()
def users() -> None:
    """Users of a tenant (the VoIPNow @me; API users for the OAuth password grant)."""


@users.command("create")
@click.option("--tenant", "company_id", required=True, help="Company id of the tenant.")
@click.option("--username", required=True)
@click.option("--name", default="")
@click.option("--password", "ask_password", is_flag=True,
              help="Prompt (hidden, twice) for a password for the OAuth password grant.")
@click.pass_obj
def users_create(settings: Settings, company_id: str, username: str, name: str,
                 ask_password: bool) -> None:
    """Create a user."""
    password = (click.prompt("Password", hide_input=True, confirmation_prompt=True)
                if ask_password else None)
    with _session(settings) as session:
        password_hash = hash_password(password) if password is not None else None
        user = create_user(session, find_tenant(session, company_id), username, name,
                           password_hash=password_hash)
        click.echo(f"user {user.username!r} created (id {encode_id(user.id)})")


@main.group()
def tokens() -> None:
    """API bearer tokens."""


@tokens.command("create")
@click.option("--tenant", "company_id", required=True, help="Company id of the tenant.")
@click.option("--user", "username", default=None, help="Username the token acts as.")
@click.option("--label", default="", help="A note to recognise the token by.")
@click.pass_obj
def tokens_create(settings: Settings, company_id: str, username: str | None,
                  label: str) -> None:
    """Create a token and print it once (only its hash is stored)."""
    with _session(settings) as session:
        tenant = find_tenant(session, company_id)
        user = find_user(session, tenant, username) if username else None
        row, token = issue_token(session, tenant.id, user.id if user else None, label=label)
        click.echo(f"token id {row.id}; the token (shown only now):", err=True)
        click.echo(token)


@tokens.command("revoke")
@click.argument("token_or_id")
@click.pass_obj
def tokens_revoke(settings: Settings, token_or_id: str) -> None:
    """Revoke a token, given the token itself or its id."""
    with _session(settings) as session:
        row = revoke_token(session, token_or_id)
        click.echo(f"token id {row.id} revoked")
