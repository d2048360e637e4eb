"""The `ringbridge` command on a temporary SQLite file and on PostgreSQL (a schema of its
own in the API tests' database): outputs, exit codes, clean errors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import func, inspect, select

from bridge.services.tenants import authenticate, issue_token
from bridge.store.models import (
    ApiToken,
    Base,
    CallRecord,
    CallStep,
    Extension,
    RingGroup,
    RingGroupMember,
    Tenant,
    User,
)
from bridge.store.session import Database
from tests.api.conftest import RecordingProvisioner
from tests.unit import cli_fixtures
from tests.unit.cli_fixtures import Cli, serving
from tests.unit.sample_call import CALL

# cli_fixtures.py's fixtures: a database (SQLite, PostgreSQL), `ringbridge` on it, a tenant
database_url, cli, tenant = cli_fixtures.database_url, cli_fixtures.cli, cli_fixtures.tenant


def test_db_upgrade_makes_the_schema_and_can_run_again(cli: Cli, database_url: str) -> None:
    for _ in range(2):
        result = cli("db", "upgrade")
        assert result.exit_code == 0, result.output
        assert result.stdout == "database is up to date\n"
    db = Database(database_url)
    assert {"alembic_version", "tenants", "extensions", "api_tokens"} <= set(
        inspect(db.engine).get_table_names())
    db.dispose()


def test_tenants_list_prints_one_line_per_tenant_by_company_id(cli: Cli) -> None:
    empty = cli("tenants", "list")
    assert empty.exit_code == 0 and empty.stdout == ""
    cli("tenants", "create", "--company-id", "globex", "--sip-domain", "globex.example")
    cli("tenants", "create", "--company-id", "ABC Taxis", "--name", "ABC", "--sip-domain",
        "abc.example", "--region", "gb")
    result = cli("tenants", "list")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == ["ABC Taxis\tABC\tabc.example\tGB",
                                          "globex\tglobex\tglobex.example\tUS"]


def test_a_tenants_time_zone_and_retention_are_set_checked_and_kept(
        cli: Cli, database_url: str) -> None:
    made = cli("tenants", "create", "--company-id", "ABC Taxis", "--sip-domain",
               "abc.example", "--time-zone", "Europe/London")
    assert made.exit_code == 0, made.output
    changed = cli("tenants", "set", "--tenant", "ABC Taxis", "--recording-retention-days",
                  "30")
    assert changed.exit_code == 0, changed.output
    assert changed.stdout == ("tenant 'ABC Taxis': time zone Europe/London, recordings "
                              "kept 30 days\n")
    bad_zone = cli("tenants", "set", "--tenant", "ABC Taxis", "--time-zone", "Europe/Londres")
    assert bad_zone.exit_code == 1
    assert "'Europe/Londres' is not an IANA time zone name" in bad_zone.output
    bad_days = cli("tenants", "create", "--company-id", "globex", "--sip-domain",
                   "globex.example", "--recording-retention-days", "0")
    assert bad_days.exit_code == 1 and "1..3650 days" in bad_days.output
    db = Database(database_url)
    with db.session() as session:
        tenants = {t.company_id: t for t in session.scalars(select(Tenant))}
        assert set(tenants) == {"ABC Taxis"}
        assert (tenants["ABC Taxis"].time_zone,
                tenants["ABC Taxis"].recording_retention_days) == ("Europe/London", 30)
    db.dispose()


def test_a_new_tenant_is_in_utc_and_keeps_recordings_90_days(cli: Cli,
                                                              database_url: str) -> None:
    assert cli("tenants", "create", "--company-id", "globex", "--sip-domain",
               "globex.example").exit_code == 0
    db = Database(database_url)
    with db.session() as session:
        tenant = session.scalars(select(Tenant)).one()
        assert (tenant.time_zone, tenant.recording_retention_days) == ("UTC", 90)
    db.dispose()


def test_tokens_create_with_a_user_acts_as_that_user(cli: Cli, tenant: str,
                                                     database_url: str) -> None:
    result = cli("tokens", "create", "--tenant", tenant, "--user", "admin", "--label", "ops")
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token.startswith("rb_") and token not in result.stderr
    assert result.stderr.startswith("token id ")
    db = Database(database_url)
    with db.session() as session:
        principal = authenticate(session, token)
        admin = session.scalar(select(User).where(User.username == "admin"))
        row = session.get(ApiToken, principal.token_id) if principal else None
        assert admin is not None and row is not None
        assert row.user_id == admin.id and row.label == "ops"
    db.dispose()


@pytest.mark.parametrize("args, message", [
    (("--tenant", "ABC Taxis", "--user", "ghost"), "Error: no user 'ghost' in tenant 'ABC Taxis'"),
    (("--tenant", "Nobody", "--user", "admin"), "Error: no tenant with company id 'Nobody'"),
    (("--tenant", "Nobody"), "Error: no tenant with company id 'Nobody'"),
])
def test_tokens_create_for_an_unknown_tenant_or_user_fails_cleanly(
    cli: Cli, tenant: str, args: tuple[str, ...], message: str
) -> None:
    result = cli("tokens", "create", *args)
    assert result.exit_code == 1
    assert result.stderr.strip() == message and result.stdout == ""


@pytest.mark.parametrize("by", ["token", "id"])
def test_tokens_revoke_by_token_or_by_id(cli: Cli, tenant: str, database_url: str,
                                         by: str) -> None:
    created = cli("tokens", "create", "--tenant", tenant)
    token = created.stdout.strip()
    token_id = created.stderr.split()[2].rstrip(";")
    for _ in range(2):  # revoking again is harmless
        result = cli("tokens", "revoke", token if by == "token" else token_id)
        assert result.exit_code == 0, result.output
        assert result.stdout == f"token id {token_id} revoked\n"
        assert f"bridge.security: token id {token_id} revoked by system user " in result.stderr
        assert token not in result.stderr
    db = Database(database_url)
    with db.session() as session:
        assert authenticate(session, token) is None
    db.dispose()


@pytest.mark.parametrize("unknown", ["rb_never-issued", "999", "not-a-token", "²",
                                     "99999999999999999999999", str(2**63)])
def test_tokens_revoke_of_an_unknown_token_fails_cleanly(cli: Cli, tenant: str,
                                                         unknown: str) -> None:
    kept = cli("tokens", "create", "--tenant", tenant).stdout.strip()
    result = cli("tokens", "revoke", unknown)
    assert result.exit_code == 1
    assert result.stderr == "Error: no such token\n"
    assert cli("tokens", "revoke", kept).exit_code == 0  # the others are untouched


def test_dispatch_set_show_clear_headers_and_destroy(cli: Cli, tenant: str) -> None:
    set_up = cli("dispatch", "set", "--tenant", tenant, "--url", "https://d.example",
                 "--header", "Authorization: Bearer t0k", "--header", "X-Site: 1")
    assert set_up.exit_code == 0, set_up.output
    assert "headers: Authorization, X-Site" in cli("dispatch", "show", "--tenant",
                                                   tenant).stdout
    cleared = cli("dispatch", "set", "--tenant", tenant, "--clear-headers")
    assert cleared.exit_code == 0, cleared.output
    shown = cli("dispatch", "show", "--tenant", tenant)
    assert "headers: -" in shown.stdout and "base_url: https://d.example" in shown.stdout
    destroyed = cli("dispatch", "destroy", "--tenant", tenant)
    assert destroyed.exit_code == 0 and destroyed.stderr == "dispatch for 'ABC Taxis' removed\n"
    gone = cli("dispatch", "show", "--tenant", tenant)
    assert gone.exit_code == 1
    assert gone.stderr == "Error: dispatch is not set up for this tenant\n"


def test_dispatch_destroy_refuses_cleanly(cli: Cli, tenant: str) -> None:
    never = cli("dispatch", "destroy", "--tenant", tenant)
    assert never.exit_code == 1
    assert never.stderr == "Error: dispatch is not set up for this tenant\n"
    unknown = cli("dispatch", "destroy", "--tenant", "nobody")
    assert unknown.exit_code == 1 and unknown.stderr.startswith("Error: ")
    both = cli("dispatch", "set", "--tenant", tenant, "--clear-headers", "--header", "A: b")
    assert both.exit_code == 2
    assert "--clear-headers and --header do not go together" in both.stderr


def tenants_create(cli: Cli, *extra: str, company_id: str = "ACME",
                   sip_domain: str = "acme.example") -> Result:
    return cli("tenants", "create", "--company-id", company_id, "--sip-domain", sip_domain,
               *extra)


@pytest.mark.parametrize("extra, options, message", [
    ((), {"sip_domain": "not a domain"}, "'not a domain' is not a DNS domain name"),
    ((), {"sip_domain": "acme"}, "'acme' is not a DNS domain name"),
    ((), {"sip_domain": "-acme.example"}, "'-acme.example' is not a DNS domain name"),
    ((), {"sip_domain": f"{'a' * 64}.example"}, f"'{'a' * 64}.example' is not a DNS domain"),
    (("--region", "XK1"), {}, "'XK1' is not an ISO 3166 region code"),
    (("--region", "ZZ"), {}, "'ZZ' is not an ISO 3166 region code"),
    ((), {"company_id": "  "}, "company id must be 1..64 characters"),
    ((), {"company_id": "c" * 65}, "company id must be 1..64 characters"),
    # The column is String(128): PostgreSQL refused a longer name with a traceback.
    (("--name", "n" * 129), {}, "name must be at most 128 characters"),
])
def test_tenants_create_refuses_bad_values_cleanly(
    cli: Cli, extra: tuple[str, ...], options: dict[str, str], message: str
) -> None:
    result = tenants_create(cli, *extra, **options)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"Error: {message}"), result.stderr
    assert cli("tenants", "list").stdout == ""


@pytest.mark.parametrize("options, message", [
    ({"sip_domain": "other.example"}, "a tenant with company_id 'ACME' exists"),
    ({"company_id": " ACME "}, "a tenant with company_id 'ACME' exists"),
    ({"company_id": "Other"}, "a tenant with sip_domain 'acme.example' exists"),
    ({"company_id": "Other", "sip_domain": "ACME.Example"},
     "a tenant with sip_domain 'acme.example' exists"),
])
def test_tenants_create_refuses_a_duplicate(cli: Cli, options: dict[str, str],
                                            message: str) -> None:
    assert tenants_create(cli).exit_code == 0
    result = tenants_create(cli, **options)
    assert result.exit_code == 1
    assert result.stderr == f"Error: {message}\n"
    assert len(cli("tenants", "list").stdout.splitlines()) == 1


def test_the_longest_tenant_and_user_values_are_taken(cli: Cli) -> None:
    company_id, name = "c" * 64, "n" * 128
    assert tenants_create(cli, "--name", name, company_id=company_id,
                          sip_domain=f"{'a' * 63}.example").exit_code == 0
    assert cli("tenants", "list").stdout.split("\t")[:2] == [company_id, name]
    result = cli("users", "create", "--tenant", company_id, "--username", "u" * 128,
                 "--name", name)
    assert result.exit_code == 0, result.output
    assert cli("tokens", "create", "--tenant", company_id, "--label", "l" * 128
               ).exit_code == 0


@pytest.mark.parametrize("args, message", [
    (("--username", "u" * 129), "username must be 1..128 characters"),
    (("--username", ""), "username must be 1..128 characters"),
    (("--username", "admin"), "user 'admin' exists in this tenant"),
    (("--username", "mary", "--name", "n" * 129), "name must be at most 128 characters"),
])
def test_users_create_refuses_bad_values_cleanly(cli: Cli, tenant: str,
                                                 args: tuple[str, ...], message: str) -> None:
    result = cli("users", "create", "--tenant", tenant, *args)
    assert result.exit_code == 1, result.output
    assert result.stderr == f"Error: {message}\n"


def test_tokens_create_refuses_a_label_over_128_characters(cli: Cli, tenant: str) -> None:
    result = cli("tokens", "create", "--tenant", tenant, "--label", "l" * 129)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == "Error: label must be at most 128 characters\n"


def test_users_have_a_role_set_at_creation_listed_and_changed(cli: Cli, tenant: str,
                                                              database_url: str) -> None:
    created = cli("users", "create", "--tenant", tenant, "--username", "boss", "--role",
                  "admin", "--name", "The Boss")
    assert created.exit_code == 0, created.output
    assert created.stdout.endswith(", role admin)\n")
    listed = cli("users", "list", "--tenant", tenant)
    assert listed.exit_code == 0, listed.output
    rows = [line.split("\t") for line in listed.stdout.splitlines()]
    assert [row[1:] for row in rows] == [["admin", "user", "admin", "no password"],
                                         ["boss", "admin", "The Boss", "no password"]]
    changed = cli("users", "set-role", "--tenant", tenant, "--username", "boss", "user")
    assert changed.exit_code == 0 and changed.stdout == "user 'boss' is now user\n"
    promoted = cli("users", "set-role", "--tenant", tenant, "--username", "admin", "admin")
    assert promoted.exit_code == 0, promoted.output
    assert [line.split("\t")[2] for line in cli("users", "list", "--tenant", tenant
                                                ).stdout.splitlines()] == ["admin", "user"]
    token = cli("tokens", "create", "--tenant", tenant, "--user", "boss").stdout.strip()
    db = Database(database_url)
    with db.session() as session:
        principal = authenticate(session, token)
        assert principal is not None and not principal.admin
    db.dispose()


@pytest.mark.parametrize("args", [
    ("users", "create", "--tenant", "ABC Taxis", "--username", "x", "--role", "root"),
    ("users", "set-role", "--tenant", "ABC Taxis", "--username", "admin", "Admin"),
])
def test_an_unknown_role_is_refused(cli: Cli, tenant: str, args: tuple[str, ...]) -> None:
    result = cli(*args)
    assert result.exit_code == 2
    assert "'admin', 'user'" in result.stderr or "admin, user" in result.stderr
    assert cli("users", "list", "--tenant", tenant).stdout.split("\t")[2] == "user"


def test_set_role_of_an_unknown_user_or_tenant_fails_cleanly(cli: Cli, tenant: str) -> None:
    ghost = cli("users", "set-role", "--tenant", tenant, "--username", "ghost", "admin")
    assert ghost.exit_code == 1
    assert ghost.stderr == "Error: no user 'ghost' in tenant 'ABC Taxis'\n"
    nobody = cli("users", "list", "--tenant", "Nobody")
    assert nobody.exit_code == 1
    assert nobody.stderr == "Error: no tenant with company id 'Nobody'\n"


def test_tokens_without_a_user_are_tenant_wide_admin_tokens(cli: Cli, tenant: str,
                                                            database_url: str) -> None:
    assert "tenant-wide admin token" in " ".join(
        cli("tokens", "create", "--help").stdout.split())
    token = cli("tokens", "create", "--tenant", tenant).stdout.strip()
    db = Database(database_url)
    with db.session() as session:
        principal = authenticate(session, token)
        assert principal is not None and principal.admin and principal.user_id is None
    db.dispose()


def test_tokens_list_shows_live_tokens_and_their_last_use_never_the_secret(
        cli: Cli, tenant: str, database_url: str) -> None:
    used = cli("tokens", "create", "--tenant", tenant, "--user", "admin", "--label", "ops")
    idle = cli("tokens", "create", "--tenant", tenant, "--label", "cron").stdout.strip()
    revoked = cli("tokens", "create", "--tenant", tenant, "--label", "old").stdout.strip()
    assert cli("tokens", "revoke", revoked).exit_code == 0
    db = Database(database_url)
    with db.session() as session:
        assert authenticate(session, used.stdout.strip()) is not None
    db.dispose()
    listed = cli("tokens", "list", "--tenant", tenant)
    assert listed.exit_code == 0, listed.output
    rows = [line.split("\t") for line in listed.stdout.splitlines()]
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        (used.stderr.split()[2].rstrip(";"), "api", "admin", "ops"),
        (rows[1][0], "api", "(tenant-wide)", "cron")]
    assert rows[0][5] != "-" and rows[1][5] == "-"  # last used
    assert used.stdout.strip() not in listed.output and idle not in listed.output
    only_admin = cli("tokens", "list", "--tenant", tenant, "--user", "admin").stdout
    assert [line.split("\t")[3] for line in only_admin.splitlines()] == ["ops"]


def test_users_delete_ends_its_tokens_and_leaves_its_extensions_unowned(
        cli: Cli, tenant: str, database_url: str) -> None:
    token = cli("tokens", "create", "--tenant", tenant, "--user", "admin").stdout.strip()
    db = Database(database_url)
    with db.session() as session:
        owner = session.scalars(select(User)).one()
        session.add(Extension(tenant_id=owner.tenant_id, extension_number="2001",
                              sip_password="x" * 24, user_id=owner.id))
    result = cli("users", "delete", "--tenant", tenant, "--username", "admin")
    assert (result.exit_code, result.stdout) == (0, "user 'admin' deleted\n")
    with db.session() as session:
        assert authenticate(session, token) is None
        assert session.scalars(select(User)).all() == []
        assert session.scalars(select(Extension.user_id)).all() == [None]
    db.dispose()
    again = cli("users", "delete", "--tenant", tenant, "--username", "admin")
    assert (again.exit_code, again.stderr) == (1, "Error: no user 'admin' in tenant "
                                                  "'ABC Taxis'\n")


def test_tenants_show_prints_its_settings_and_counts(cli: Cli, tenant: str) -> None:
    cli("tokens", "create", "--tenant", tenant)
    shown = cli("tenants", "show", "--tenant", tenant)
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.splitlines() == [
        "company_id: ABC Taxis", "name: ABC Taxis", "sip_domain: abc.example", "region: GB",
        "time_zone: UTC", "recording_retention_days: 90", "users: 1", "extensions: 0",
        "ring groups: 0", "call records: 0", "live tokens: 1"]
    assert cli("tenants", "show", "--tenant", "Nobody").exit_code == 1


class HangingUpEngine(RecordingProvisioner):
    """An engine whose hang-up ends the call."""

    def hang_up(self, domain: str, call_id: str, view: str | None) -> list[str]:
        self.calls = [call for call in self.calls if call.call_id != call_id]
        return super().hang_up(domain, call_id, view)


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HangingUpEngine]:
    """A running serve's engine as the CLI finds it: through the link file."""
    made = HangingUpEngine()
    with serving(made, tmp_path, monkeypatch):
        yield made


def _tenant_rows(database_url: str, tenant_id: int) -> dict[str, int]:
    """Rows that name the tenant, table by table (call steps through their records)."""
    db = Database(database_url)
    counts = {}
    with db.session() as session:
        for table in Base.metadata.sorted_tables:
            column = table.c.get("tenant_id")
            if column is not None:
                counts[table.name] = session.scalar(
                    select(func.count()).select_from(table).where(column == tenant_id)) or 0
        counts["tenants"] = session.scalar(select(func.count()).select_from(Tenant).where(
            Tenant.id == tenant_id)) or 0
        counts["call_steps"] = session.scalar(select(func.count()).select_from(CallStep))or 0
    db.dispose()
    return counts


def _fill(database_url: str, company_id: str) -> int:
    """An extension, a group with it, a token, a recorded call with steps."""
    db = Database(database_url)
    with db.session() as session:
        tenant = session.scalars(select(Tenant).where(Tenant.company_id == company_id)).one()
        extension = Extension(tenant_id=tenant.id, extension_number="2001",
                              sip_password="x" * 24)
        group = RingGroup(tenant_id=tenant.id, name="Cabs", extension_number="6001",
                          ring_strategy="RING_SIMULTANEOUSLY")
        session.add_all([extension, group])
        session.flush()
        session.add(RingGroupMember(ring_group_id=group.id, extension_id=extension.id,
                                    position=0))
        session.add(CallRecord(call_id=f"call-{tenant.id}", tenant_id=tenant.id,
                               caller="+442071234567", dialled="6001",
                               received_at=datetime.now(UTC), recording=f"rec-{tenant.id}",
                               steps=[CallStep(at=datetime.now(UTC), kind="arrived")]))
        issue_token(session, tenant.id, None)
        tenant_id = tenant.id
    db.dispose()
    return tenant_id


def test_tenants_delete_needs_ringbridge_running(cli: Cli, tenant: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RINGBRIDGE_LINK_FILE", str(tmp_path / "none.link"))
    result = cli("tenants", "delete", "--tenant", tenant, "--yes")
    assert result.exit_code == 1
    assert "ringbridge is not running: no link at" in result.stderr


def test_tenants_delete_refuses_while_calls_are_up_and_force_hangs_them_up(
        cli: Cli, tenant: str, database_url: str, engine: HangingUpEngine) -> None:
    assert cli("tenants", "create", "--company-id", "Other", "--sip-domain",
               "other.example").exit_code == 0
    tenant_id, other_id = _fill(database_url, tenant), _fill(database_url, "Other")
    engine.calls = [replace(CALL, call_id="up-1", domain="abc.example"),
                    replace(CALL, call_id="elsewhere", domain="other.example")]
    refused = cli("tenants", "delete", "--tenant", tenant, "--yes")
    assert refused.exit_code == 1
    assert "has 1 calls up" in refused.stderr and "--force" in refused.stderr
    assert _tenant_rows(database_url, tenant_id)["extensions"] == 1  # nothing deleted
    assert engine.removed == [] and engine.actions == []

    forced = cli("tenants", "delete", "--tenant", tenant, "--force", "--yes")
    assert forced.exit_code == 0, forced.output
    assert forced.stdout == ("tenant 'ABC Taxis' deleted: 1 calls hung up, 1 endpoints and "
                             "1 recordings removed from Asterisk\n")
    assert engine.actions == [("hang_up", "abc.example", "up-1", None)]
    assert engine.removed == ["2001@abc.example"]
    assert engine.deleted_recordings == [f"rec-{tenant_id}"]
    left = _tenant_rows(database_url, tenant_id)
    assert {table: n for table, n in left.items() if table != "call_steps"} == dict.fromkeys(
        left.keys() - {"call_steps"}, 0)
    assert left["call_steps"] == 1  # the other tenant's call's step only
    assert _tenant_rows(database_url, other_id)["extensions"] == 1
    assert [call.call_id for call in engine.calls] == ["elsewhere"]
