"""Operator panel sessions: a user signed in with a password, in a cookie.

A session is a token of its own kind (`panel`), stored hashed as every token is: it
works in the panel only, never as a bearer token, and signing out (or `ringbridge
tokens revoke`) ends it. Its CSRF token is derived from it (an HMAC), so the page can
carry one that proves it was served to the session without the session's token ever
being readable by the page's scripts.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from sqlalchemy.orm import Session

from bridge.services.tenants import Principal, authenticate, issue_token, revoke_token
from bridge.store.models import User

KIND = "panel"
LIFETIME = timedelta(hours=12)  # a working shift; then the user signs in again
_CSRF_LABEL = b"ringbridge panel csrf"


def open_session(session: Session, user: User) -> str:
    """A new session of a user whose password was right; its token (shown once)."""
    _, token = issue_token(session, user.tenant_id, user.id, kind=KIND, label="panel",
                           lifetime=LIFETIME)
    return token


def session_principal(session: Session, token: str) -> Principal | None:
    """Who a live session acts for; None for an unknown, ended or expired one."""
    return authenticate(session, token, kinds=(KIND,)) if token else None


def close_session(session: Session, token: str) -> Principal | None:
    """Sign out: the session's token is revoked; whose it was (None: unknown, ended)."""
    who = session_principal(session, token)
    if who is not None:
        revoke_token(session, token)
    return who


def csrf_token(token: str) -> str:
    return hmac.new(token.encode(), _CSRF_LABEL, hashlib.sha256).hexdigest()


def csrf_matches(token: str, offered: str) -> bool:
    """Compared as bytes: a header or form value may hold any character."""
    return hmac.compare_digest(csrf_token(token).encode(), offered.encode())
