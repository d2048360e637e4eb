"""A user's username and password checked, throttled (bridge/api/login_limits.py): the
password grants of every surface's token endpoint and the panel's sign-in."""

from __future__ import annotations

from flask import current_app, request
from sqlalchemy.orm import Session

from bridge.api.login_limits import LoginThrottle, account
from bridge.services.tenants import check_password, login_users, named_tenant_id
from bridge.store.models import User
from bridge.store.session import Database


def checked_user(username: str, password: str, company_id: str | None,
                 sip_domain: str | None) -> User:
    """The user (of the tenant named by `company_id` or `sip_domain`, or of the one
    tenant that has the username) whose password this is. No database connection is
    held while waiting for a check slot or checking."""
    database: Database = current_app.config["DATABASE"]
    throttle: LoginThrottle = current_app.config["LOGIN_THROTTLE"]
    address = request.remote_addr or ""
    with database.session() as session:
        users = login_users(session, username, company_id, sip_domain)
        accounts: dict[str, User | None] = {account(user.tenant_id, username): user
                                            for user in users}
        if not users:
            accounts[account(_unknown_account_tenant(session, company_id, sip_domain),
                             username)] = None
    checked = throttle.open_accounts(address, list(accounts))
    with throttle.attempt(address, checked):
        return check_password([user for key in checked if (user := accounts[key])],
                              password, candidates=len(users))


def _unknown_account_tenant(session: Session, company_id: str | None,
                            sip_domain: str | None) -> int | str | None:
    """What the failures of a username no tenant named has count against: the tenant
    named (by its id), what the request named when no tenant has it, or None."""
    if company_id is None and sip_domain is None:
        return None
    return named_tenant_id(session, company_id, sip_domain) or f"{company_id}|{sip_domain}"
