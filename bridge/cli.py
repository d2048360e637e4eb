"""The `ringbridge` command."""

from __future__ import annotations

import getpass
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import click
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bridge import __version__, logs, metrics_dir
from bridge.api.engines_client import EnginesClient
from bridge.api.security_log import log as security_log
from bridge.config import ConfigError, Settings, load_settings
from bridge.gateway import EngineOverview, GatewayError
from bridge.gateway_link import published
from bridge.logs import FORMATS
from bridge.services.dispatch import delete_settings, get_settings, update_settings
from bridge.services.errors import ServiceError
from bridge.services.extensions import find_extension, list_extensions, pause, resume
from bridge.services.jwt_credentials import (
    DEFAULT_DAYS,
    MAX_DAYS,
    create_credential,
    list_credentials,
    revoke_credential,
)
from bridge.services.ring_groups import group_labels
from bridge.services.tenant_removal import remove_tenant
from bridge.services.tenants import (
    ROLES,
    change_tenant,
    create_tenant,
    create_user,
    find_tenant,
    find_user,
    hash_password,
    issue_token,
    list_tenants,
    list_tokens,
    list_users,
    revoke_token,
    set_role,
    tenant_counts,
)
from bridge.status_screen import render
from bridge.store.ids import encode_id
from bridge.store.migrate import upgrade
from bridge.store.models import Extension, aware
from bridge.store.session import Database

log = logging.getLogger(__name__)


@click.group()
@click.version_option(__version__, prog_name="ringbridge")
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              envvar="RINGBRIDGE_CONFIG", help="TOML config file (environment wins over it).")
@click.option("--log-format", type=click.Choice(FORMATS), default=None,
              help="text (default) or json: one object per line (the log_format setting).")
@click.pass_context
def main(ctx: click.Context, config_file: str | None, log_format: str | None) -> None:
    """ringbridge: call-control bridge for Asterisk."""
    try:
        settings = load_settings(config_file)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    logs.configure(settings.log_level, log_format or settings.log_format)
    if ctx.invoked_subcommand not in ("serve", "db"):
        # Every command brings the schema up to date first: its chatter is noise there.
        logging.getLogger("alembic").setLevel(logging.WARNING)
    # One line per ARI request is noise; the engine logs what happened to each call.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("panoramisk").setLevel(logging.INFO)
    ctx.obj = settings


@main.command()
@click.pass_obj
def serve(settings: Settings) -> None:
    """Run the HTTP API and the telephony engine."""
    metrics_dir.prepare(settings.metrics_directory)  # before prometheus_client's import
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
@click.option("--time-zone", default="UTC", show_default=True,
              help="IANA name (e.g. Europe/London): the offset of dispatch event times.")
@click.option("--recording-retention-days", type=int, default=90, show_default=True,
              help="Recordings and voicemails are deleted this many days after the call.")
@click.pass_obj
def tenants_create(settings: Settings, company_id: str, name: str, sip_domain: str,
                   region: str, time_zone: str, recording_retention_days: int) -> None:
    """Create a tenant."""
    with _session(settings) as session:
        tenant = create_tenant(session, company_id, name, sip_domain, region, time_zone,
                               recording_retention_days)
        click.echo(f"tenant {tenant.company_id!r} created (SIP domain {tenant.sip_domain})")


@tenants.command("set")
@click.option("--tenant", "company_id", required=True, help="Company id of the tenant.")
@click.option("--time-zone", help="IANA name (e.g. Europe/London).")
@click.option("--recording-retention-days", type=int,
              help="Days recordings and voicemails are kept.")
@click.pass_obj
def tenants_set(settings: Settings, company_id: str, time_zone: str | None,
                recording_retention_days: int | None) -> None:
    """Change a tenant's time zone or recording retention (the options given)."""
    with _session(settings) as session:
        tenant = change_tenant(session, find_tenant(session, company_id), time_zone=time_zone,
                               recording_retention_days=recording_retention_days)
        click.echo(f"tenant {tenant.company_id!r}: time zone {tenant.time_zone}, recordings "
                   f"kept {tenant.recording_retention_days} days")


@tenants.command("list")
@click.pass_obj
def tenants_list(settings: Settings) -> None:
    """List tenants."""
    with _session(settings) as session:
        for tenant in list_tenants(session):
            click.echo(f"{tenant.company_id}\t{tenant.name}\t{tenant.sip_domain}\t"
                       f"{tenant.region}")


@tenants.command("show")
@click.option("--tenant", "company_id", required=True, help="Company id of the tenant.")
@click.pass_obj
def tenants_show(settings: Settings, company_id: str) -> None:
    """Print a tenant's settings and how much it holds."""
    with _session(settings) as session:
        tenant = find_tenant(session, company_id)
        for name in ("company_id", "name", "sip_domain", "region", "time_zone",
                     "recording_retention_days"):
            click.echo(f"{name}: {getattr(tenant, name)}")
        for what, count in tenant_counts(session, tenant).items():
            click.echo(f"{what}: {count}")


@tenants.command("delete")
@click.option("--tenant", "company_id", required=True, help="Company id of the tenant.")
@click.option("--force", is_flag=True, help="Hang up its calls that are up.")
@click.confirmation_option(prompt="Delete the tenant, its users, extensions, groups, "
                           "tokens, call records and recordings?")
@click.pass_obj
def tenants_delete(settings: Settings, company_id: str, force: bool) -> None:
    """Delete a tenant and everything of it, in the database and in Asterisk.

    Needs `ringbridge serve` running (its calls and endpoints are the engine's).
    Refused while the tenant has calls up, unless --force hangs them up."""
    engine = _running_engine(settings)
    try:
        with _session(settings) as session:
            removal = remove_tenant(session, find_tenant(session, company_id), engine,
                                    force=force)
    except GatewayError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        engine.close()
    click.echo(f"tenant {company_id!r} deleted: {removal.calls_hung_up} calls hung up, "
               f"{len(removal.endpoints)} endpoints and {len(removal.recordings)} "
               "recordings removed from Asterisk")


@main.command()
@click.option("--watch", is_flag=True, help="Refresh every --interval seconds until Ctrl-C.")
@click.option("--interval", type=click.FloatRange(min=0.5), default=2.0, show_default=True,
              help="Seconds between refreshes with --watch.")
@click.pass_obj
def status(settings: Settings, watch: bool, interval: float) -> None:
    """The running service at a glance: its links to Asterisk, calls up, parked calls,
    waiting lines and the dispatch outbox, read from the engine of `ringbridge serve`."""
    engine, database = _running_engine(settings), Database(settings.database_url)
    try:
        while True:
            screen = _status_screen(database, engine.overview())
            if not watch:
                click.echo(screen)
                return
            click.clear()
            click.echo(screen)
            wait(interval)
    except GatewayError as exc:
        raise click.ClickException(exc.message) from exc
    except KeyboardInterrupt:
        pass
    finally:
        engine.close()
        database.dispose()


def wait(seconds: float) -> None:
    """Between two screens of `status --watch` (the tests replace it)."""
    time.sleep(seconds)


def _status_screen(database: Database, overview: EngineOverview) -> str:
    """Read only: the database is the running serve's (never migrated from here); while
    it cannot be read, groups are shown by id."""
    groups: dict[int, str] = {}
    if overview.lines:
        try:
            with database.session() as session:
                groups = group_labels(session, overview.lines)
        except SQLAlchemyError as exc:
            log.warning("ring group names not read: %s", exc)
    return render(overview, groups, datetime.now(UTC))


def _running_engine(settings: Settings) -> EnginesClient:
    """The engines of the `ringbridge serve` that published their links at `link_file`."""
    path = settings.published_link
    try:
        links = published(path)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot read {path}: {exc}") from exc
    if links is None:
        raise click.ClickException(f"ringbridge is not running: no link at {path} (run "
                                   "this with the config of `ringbridge serve`)")
    return EnginesClient.over(links)


@main.group()
def users() -> None:
    """Users of a tenant (the VoIPNow @me; API users for the OAuth password grant).

    A user's role decides what its tokens reach under /restapi/ and /uapi/: an admin
    every extension of the tenant, a user only the extensions it owns."""


ROLE = click.Choice(ROLES)


@users.command("create")
@click.option("--tenant", "company_id", required=True, help="Company id of the tenant.")
@click.option("--username", required=True)
@click.option("--name", default="")
@click.option("--role", type=ROLE, default="user", show_default=True,
              help="admin: reaches every extension of the tenant; user: only its own.")
@click.option("--password", "ask_password", is_flag=True,
              help="Prompt (hidden, twice) for a password for the OAuth password grant.")
@click.pass_obj
def users_create(settings: Settings, company_id: str, username: str, name: str, role: str,
                 ask_password: bool) -> None:
    """Create a user."""
    password = (click.prompt("Password", hide_input=True, confirmation_prompt=True)
                if ask_password else None)
    with _session(settings) as session:
        password_hash = hash_password(password) if password is not None else None
        user = create_user(session, find_tenant(session, company_id), username, name,
                           password_hash=password_hash, role=role)
        click.echo(f"user {user.username!r} created (id {encode_id(user.id)}, role "
                   f"{user.role})")


@users.command("list")
@click.option("--tenant", "company_id", required=True, help="Company id of the tenant.")
@click.pass_obj
def users_list(settings: Settings, company_id: str) -> None:
    """List a tenant's users: id, username, role, name, whether a password is set."""
    with _session(settings) as session:
        for user in list_users(session, find_tenant(session, company_id)):
            password = "password" if user.password_hash else "no password"
            click.echo(f"{encode_id(user.id)}\t{user.username}\t{user.role}\t{user.name}\t"
                       f"{password}")


@users.command("set-role")
@click.option("--tenant", "company_id", required=True, help="Company id of the tenant.")
@click.option("--username", required=True)
@click.argument("role", type=ROLE)
@click.pass_obj
def users_set_role(settings: Settings, company_id: str, username: str, role: str) -> None:
    """Make a user an admin or a plain user (its tokens follow at once)."""
    with _session(settings) as session:
        user = find_user(session, find_tenant(session, company_id), username)
        set_role(user, role)
        click.echo(f"user {user.username!r} is now {role}")


@users.command("delete")
@click.option("--tenant", "company_id", required=True, help="Company id of the tenant.")
@click.option("--username", required=True)
@click.pass_obj
def users_delete(settings: Settings, company_id: str, username: str) -> None:
    """Delete a user and its tokens; extensions it owned stay, owned by no one."""
    with _session(settings) as session:
        user = find_user(session, find_tenant(session, company_id), username)
        session.delete(user)
        click.echo(f"user {username!r} deleted")


@users.group("jwt")
def users_jwt() -> None:
    """JWT credentials of users, for RingCentral's JWT bearer grant (docs/tokens.md)."""


@users_jwt.command("create")
@click.option("--tenant", "company_id", required=True, help="Company id of the tenant.")
@click.option("--username", required=True, help="The user its tokens act as.")
@click.option("--label", default="", help="A note to recognise the credential by.")
@click.option("--expires-days", type=int, default=DEFAULT_DAYS, show_default=True,
              help=f"Days it can be exchanged for tokens (1..{MAX_DAYS}).")
@click.pass_obj
def users_jwt_create(settings: Settings, company_id: str, username: str, label: str,
                     expires_days: int) -> None:
    """Create a JWT credential of a user and print it once (it is not stored)."""
    with _session(settings) as session:
        tenant = find_tenant(session, company_id)
        user = find_user(session, tenant, username)
        row, credential = create_credential(session, tenant, user, label, expires_days)
        click.echo(f"JWT credential id {encode_id(row.id)} of user {username!r}, expires "
                   f"{_when(row.expires_at)}; the credential (shown only now):", err=True)
        click.echo(credential)


@users_jwt.command("list")
@click.option("--tenant", "company_id", required=True, help="Company id of the tenant.")
@click.option("--username", default=None, help="Only this user's credentials.")
@click.pass_obj
def users_jwt_list(settings: Settings, company_id: str, username: str | None) -> None:
    """List JWT credentials: id, user, label, created, expires, last used, revoked.

    Never the credential itself (it is not stored)."""
    with _session(settings) as session:
        tenant = find_tenant(session, company_id)
        user = find_user(session, tenant, username) if username else None
        for row, owner in list_credentials(session, tenant, user):
            click.echo("\t".join((
                encode_id(row.id), owner, row.label, _when(row.created_at),
                _when(row.expires_at), _when(row.last_used_at), _when(row.revoked_at))))


@users_jwt.command("revoke")
@click.argument("credential_id")
@click.pass_obj
def users_jwt_revoke(settings: Settings, credential_id: str) -> None:
    """Revoke a JWT credential, given its id: it is refused from now on."""
    with _session(settings) as session:
        revoke_credential(session, credential_id)
    click.echo(f"JWT credential {credential_id} revoked")
    _security_event(f"JWT credential {credential_id} revoked")


@main.group()
def tokens() -> None:
    """API bearer tokens."""


@tokens.command("create")
@click.option("--tenant", "company_id", required=True, help="Company id of the tenant.")
@click.option("--user", "username", default=None,
              help="Username the token acts as, with that user's role. Without it the "
                   "token is a tenant-wide admin token: it reaches every extension.")
@click.option("--label", default="", help="A note to recognise the token by.")
@click.pass_obj
def tokens_create(settings: Settings, company_id: str, username: str | None,
                  label: str) -> None:
    """Create a token and print it once (only its hash is stored).

    Without --user it is a tenant-wide admin token; with --user it acts as that user
    (an admin reaches every extension, a user only its own)."""
    with _session(settings) as session:
        tenant = find_tenant(session, company_id)
        user = find_user(session, tenant, username) if username else None
        row, token = issue_token(session, tenant.id, user.id if user else None, label=label)
        click.echo(f"token id {row.id}; the token (shown only now):", err=True)
        click.echo(token)


@tokens.command("list")
@click.option("--tenant", "company_id", required=True, help="Company id of the tenant.")
@click.option("--user", "username", default=None, help="Only this user's tokens.")
@click.pass_obj
def tokens_list(settings: Settings, company_id: str, username: str | None) -> None:
    """List a tenant's live tokens: id, kind, user, label, created, last used, expires.

    Never the secret (only its hash is stored)."""
    with _session(settings) as session:
        tenant = find_tenant(session, company_id)
        user = find_user(session, tenant, username) if username else None
        for token, owner in list_tokens(session, tenant, user):
            click.echo("\t".join((
                str(token.id), token.kind, owner or "(tenant-wide)", token.label,
                _when(token.created_at), _when(token.last_used_at),
                _when(token.expires_at))))


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else "-"


@tokens.command("revoke")
@click.argument("token_or_id")
@click.pass_obj
def tokens_revoke(settings: Settings, token_or_id: str) -> None:
    """Revoke a token, given the token itself or its id."""
    with _session(settings) as session:
        row = revoke_token(session, token_or_id)
        click.echo(f"token id {row.id} revoked")
    _security_event(f"token id {row.id} revoked")


def _security_event(what: str) -> None:
    """The security log's line for a change made here: who (the system user) and where."""
    security_log.info("%s by system user %r through the ringbridge command", what,
                      getpass.getuser())


@main.group()
def agents() -> None:
    """Agent availability: a paused extension is rung by no ring group until resumed."""


@agents.command("pause")
@click.option("--tenant", "company_id", required=True, help="Company id of the tenant.")
@click.option("--extension", "number", required=True, help="The extension's number.")
@click.option("--reason", default=None, help="Why (at most 200 characters).")
@click.pass_obj
def agents_pause(settings: Settings, company_id: str, number: str,
                 reason: str | None) -> None:
    """Pause an extension in all its ring groups (pausing again changes the reason)."""
    with _session(settings) as session:
        extension = find_extension(session, find_tenant(session, company_id), number)
        pause(extension, reason)
        paused = _availability(extension)
    click.echo(f"extension {number} {paused}")  # once committed


@agents.command("resume")
@click.option("--tenant", "company_id", required=True, help="Company id of the tenant.")
@click.option("--extension", "number", required=True, help="The extension's number.")
@click.pass_obj
def agents_resume(settings: Settings, company_id: str, number: str) -> None:
    """Resume a paused extension: its ring groups ring it again."""
    with _session(settings) as session:
        resume(find_extension(session, find_tenant(session, company_id), number))
    click.echo(f"extension {number} available")


@agents.command("list")
@click.option("--tenant", "company_id", required=True, help="Company id of the tenant.")
@click.pass_obj
def agents_list(settings: Settings, company_id: str) -> None:
    """List a tenant's extensions: number, name, available or paused since when and why."""
    with _session(settings) as session:
        for extension in list_extensions(session, find_tenant(session, company_id)):
            click.echo(f"{extension.extension_number}\t{extension.display_name or '-'}\t"
                       f"{_availability(extension)}")


def _availability(extension: Extension) -> str:
    if extension.paused_at is None:
        return "available"
    reason = f": {extension.pause_reason}" if extension.pause_reason else ""
    return f"paused since {_when(aware(extension.paused_at))}{reason}"


@main.group()
def dispatch() -> None:
    """A tenant's dispatch system: where call events go (docs/dispatch.md)."""


def _header(_ctx: click.Context, _param: click.Parameter,
            values: tuple[str, ...]) -> dict[str, str] | None:
    headers = {}
    for value in values:
        name, sep, text = value.partition(":")
        if not sep:
            raise click.BadParameter(f"{value!r}: write it as 'Name: value'")
        headers[name.strip()] = text.strip()
    return headers or None


@dispatch.command("set")
@click.option("--tenant", "company_id", required=True, help="Company id of the tenant.")
@click.option("--url", "base_url", help="Base URL, e.g. https://dispatch.example.com.")
@click.option("--company-in-path/--host-names-company", default=None,
              help="{url}/{companyId}/telephony/… or {url}/telephony/….")
@click.option("--company-in-query/--no-company-in-query", default=None,
              help="Also send companyId as a query parameter.")
@click.option("--events", help="Comma-separated: invite,ringing,connected,cleared,missed.")
@click.option("--invite-timeout-ms", type=int)
@click.option("--ringing-timeout-ms", type=int)
@click.option("--delivery-timeout-ms", type=int)
@click.option("--retry-seconds", type=int)
@click.option("--signing-secret", help="whsec_…, 'generate' (printed once) or 'none'.")
@click.option("--header", "headers", multiple=True, callback=_header,
              help="Extra header 'Name: value' (repeat; replaces the set).")
@click.option("--clear-headers", is_flag=True, help="Send no extra headers from now on.")
@click.pass_obj
def dispatch_set(settings: Settings, company_id: str, clear_headers: bool,
                 **options: object) -> None:
    """Set up or change a tenant's dispatch settings (options given are changed)."""
    if clear_headers:
        if options["headers"] is not None:
            raise click.UsageError("--clear-headers and --header do not go together")
        options["headers"] = {}
    changes = {name: value for name, value in options.items() if value is not None}
    if isinstance(changes.get("events"), str):
        changes["events"] = [e.strip() for e in str(changes["events"]).split(",") if e.strip()]
    if changes.get("signing_secret") == "none":
        changes["signing_secret"] = None
    with _session(settings) as session:
        change = update_settings(session, find_tenant(session, company_id).id, changes)
        if change.new_secret:
            click.echo("signing secret (shown only now):", err=True)
            click.echo(change.new_secret)
        click.echo(f"dispatch for {company_id!r}: {change.settings.base_url}", err=True)


@dispatch.command("show")
@click.option("--tenant", "company_id", required=True, help="Company id of the tenant.")
@click.pass_obj
def dispatch_show(settings: Settings, company_id: str) -> None:
    """Print a tenant's dispatch settings (secrets and header values hidden)."""
    with _session(settings) as session:
        row = get_settings(session, find_tenant(session, company_id).id)
        for name in ("base_url", "company_in_path", "company_in_query", "events",
                     "invite_timeout_ms", "ringing_timeout_ms", "delivery_timeout_ms",
                     "retry_seconds"):
            click.echo(f"{name}: {getattr(row, name)}")
        click.echo(f"signing: {'on' if row.signing_secret else 'off'}")
        click.echo(f"headers: {', '.join(sorted(row.headers)) or '-'}")


@dispatch.command("destroy")
@click.option("--tenant", "company_id", required=True, help="Company id of the tenant.")
@click.pass_obj
def dispatch_destroy(settings: Settings, company_id: str) -> None:
    """Stop sending a tenant's dispatch events (its settings are removed)."""
    with _session(settings) as session:
        delete_settings(session, find_tenant(session, company_id).id)
    click.echo(f"dispatch for {company_id!r} removed", err=True)


@main.command("dispatch-receiver")
@click.option("--port", type=int, default=8899, show_default=True)
@click.option("--redirect-to", default=None,
              help="Answer ringing with 307 to this agent or queue id (once per call).")
@click.option("--signing-secret", default=None, help="Check each request's signature.")
def dispatch_receiver(port: int, redirect_to: str | None, signing_secret: str | None) -> None:
    """A reference dispatch system on 127.0.0.1: prints every event it gets."""
    from bridge.dispatch.receiver import serve_receiver

    serve_receiver(port, redirect_to, signing_secret)
