"""`ringbridge users jwt`: JWT credentials made, listed and revoked, on a temporary SQLite
file and on PostgreSQL (the fixtures of cli_fixtures.py). Exchanging them for tokens:
tests/surfaces/ringcentral/test_jwt_grant.py."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
from sqlalchemy import func, select

from bridge.store.ids import decode_id, encode_id
from bridge.store.models import JwtCredential, JwtSigningKey, Tenant, User
from bridge.store.session import Database
from tests.unit import cli_fixtures
from tests.unit.cli_fixtures import Cli

# cli_fixtures.py's fixtures: a database (SQLite, PostgreSQL), `ringbridge` on it, a tenant
database_url, cli, tenant = cli_fixtures.database_url, cli_fixtures.cli, cli_fixtures.tenant


def create(cli: Cli, *extra: str, username: str = "admin") -> tuple[str, str]:
    """The credential (stdout) and its id (in the note on stderr)."""
    made = cli("users", "jwt", "create", "--tenant", "ABC Taxis", "--username", username,
               *extra)
    assert made.exit_code == 0, made.output
    assert made.stderr.startswith("JWT credential id ")
    return made.stdout.strip(), made.stderr.split()[3]


def listed(cli: Cli, *extra: str) -> list[list[str]]:
    result = cli("users", "jwt", "list", "--tenant", "ABC Taxis", *extra)
    assert result.exit_code == 0, result.output
    return [line.split("\t") for line in result.stdout.splitlines()]


def test_create_prints_only_the_jwt_on_stdout_with_the_claims_of_its_row(
        cli: Cli, tenant: str, database_url: str) -> None:
    credential, credential_id = create(cli, "--label", "dispatch", "--expires-days", "30")
    assert credential.count(".") == 2 and "\n" not in credential
    claims = jwt.decode(credential, options={"verify_signature": False})
    assert set(claims) == {"iss", "aud", "sub", "tenant", "jti", "iat", "exp"}
    assert (claims["iss"], claims["jti"]) == ("ringbridge", credential_id)
    assert claims["exp"] - claims["iat"] == 30 * 24 * 3600
    db = Database(database_url)
    with db.session() as session:
        admin = session.scalars(select(User)).one()
        row = session.get_one(JwtCredential, decode_id(credential_id))
        assert (claims["sub"], claims["tenant"]) == (encode_id(admin.id),
                                                      encode_id(admin.tenant_id))
        assert (row.user_id, row.label) == (admin.id, "dispatch")
        assert row.expires_at - row.created_at == timedelta(days=30)
    db.dispose()


def test_one_signing_key_per_tenant_made_with_its_first_credential(
        cli: Cli, tenant: str, database_url: str) -> None:
    assert cli("tenants", "create", "--company-id", "globex", "--sip-domain",
               "globex.example").exit_code == 0
    assert cli("users", "create", "--tenant", "globex", "--username", "ops").exit_code == 0
    db = Database(database_url)

    def keys() -> dict[str, int]:
        with db.session() as session:
            counted = session.execute(
                select(Tenant.company_id, func.count(JwtSigningKey.tenant_id))
                .join(JwtSigningKey, JwtSigningKey.tenant_id == Tenant.id)
                .group_by(Tenant.company_id))
            return {company_id: count for company_id, count in counted}

    assert keys() == {}
    create(cli)
    create(cli)
    assert keys() == {"ABC Taxis": 1}
    made = cli("users", "jwt", "create", "--tenant", "globex", "--username", "ops")
    assert made.exit_code == 0, made.output
    assert keys() == {"ABC Taxis": 1, "globex": 1}
    db.dispose()


def test_list_shows_each_credential_never_the_jwt_and_revoke_marks_it(
        cli: Cli, tenant: str) -> None:
    assert cli("users", "create", "--tenant", tenant, "--username", "ops").exit_code == 0
    first, first_id = create(cli, "--label", "app one")
    second, _ = create(cli, username="ops")
    rows = sorted(listed(cli), key=lambda row: row[1])  # made in one second: either order
    assert [row[:3] for row in rows] == [[first_id, "admin", "app one"],
                                         [rows[1][0], "ops", ""]]
    assert all(len(row) == 7 and row[5:] == ["-", "-"] for row in rows)
    assert [row[1] for row in listed(cli, "--username", "ops")] == ["ops"]
    for _ in range(2):  # revoking again is harmless
        revoked = cli("users", "jwt", "revoke", first_id)
        assert revoked.exit_code == 0 and revoked.stdout == f"JWT credential {first_id} revoked\n"
    shown = cli("users", "jwt", "list", "--tenant", tenant)
    for credential in (first, second):
        assert credential.split(".")[2] not in shown.output
    (row,) = [row for row in listed(cli) if row[0] == first_id]
    assert row[6] != "-"


@pytest.mark.parametrize("args, message", [
    (("--expires-days", "0"), "a JWT credential lasts 1..3650 days"),
    (("--expires-days", "3651"), "a JWT credential lasts 1..3650 days"),
    (("--label", "l" * 129), "label must be at most 128 characters"),
    (("--username", "ghost"), "no user 'ghost' in tenant 'ABC Taxis'"),
])
def test_create_refuses_cleanly(cli: Cli, tenant: str, args: tuple[str, ...],
                                message: str) -> None:
    options = ("--username", "admin", *args) if "--username" not in args else args
    result = cli("users", "jwt", "create", "--tenant", tenant, *options)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == f"Error: {message}\n"
    assert listed(cli) == []


@pytest.mark.parametrize("unknown", ["999", "not-an-id", encode_id(10**17), "²"])
def test_revoke_of_an_unknown_credential_fails_cleanly(cli: Cli, tenant: str,
                                                       unknown: str) -> None:
    result = cli("users", "jwt", "revoke", unknown)
    assert result.exit_code == 1
    assert result.stderr == "Error: no such JWT credential\n"
