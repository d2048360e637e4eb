"""Security events, logged at INFO on the logger `bridge.security`, one line each.

After every request: a refused login or token (401; a token endpoint's 400, such as a
wrong password or a bad refresh token or JWT), a refusal of what a token's role does
not reach (403), a limit hit (429: a locked-out username or address, a rate limit),
and a token revoked through the API. Each line says what was asked, who asked (the
token's tenant, user and token ids, or the username tried) and from where (the client
address, as the API sees it: behind a proxy, the proxy's). Never a secret: no
password, token, refresh token or assertion is logged.

Another tenant's objects answer 404, as objects that do not exist do: such a request
is not told apart here.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, request

from bridge.api.auth import looked_up

log = logging.getLogger("bridge.security")
TOKEN_ENDPOINTS = ("/api/login/oauth/token", "/restapi/oauth/token")
REVOKE_ENDPOINTS = ("/api/login/oauth/revoke", "/restapi/oauth/revoke")
PANEL_SIGNIN = "/panel/signin"
REFUSALS = (401, 403, 429)


def log_security_events(response: Response) -> Response:
    """after_request: one line for a security event, nothing otherwise."""
    status, path = response.status_code, request.path
    if path in REVOKE_ENDPOINTS and status == 200:
        log.info("token revoked through %s by %s from %s (token_type_hint %r)", path,
                 _who(), request.remote_addr, request.form.get("token_type_hint"))
    elif status in REFUSALS or (path in TOKEN_ENDPOINTS and status == 400):
        log.info("refused %d: %s %s by %s from %s: %s", status, request.method, path,
                 _who(), request.remote_addr, _message(response))
    return response


def _who() -> str:
    """The token's principal if the request had a valid one, else what it claimed."""
    checked, who = looked_up()
    if who is not None:
        user = f"user {who.user_id}" if who.user_id is not None else "no user"
        return f"tenant {who.tenant_id} {user} token {who.token_id}"
    if checked:
        return "a token that is unknown, revoked or expired"
    if request.path in (*TOKEN_ENDPOINTS, PANEL_SIGNIN):
        grant = request.form.get("grant_type", "panel sign-in")
        username = request.form.get("username")
        return f"{grant} grant" + (f" for username {username!r}" if username else "")
    if request.path.startswith("/panel"):
        return "a panel session" if request.cookies.get("rb_panel") else "no panel session"
    return "no token"


def _message(response: Response) -> str:
    """The answer's message, in whichever surface's error body it came."""
    body: Any = response.get_json(silent=True)
    if not isinstance(body, dict):
        return ""
    error = body.get("error")
    for found in (body.get("message"), body.get("error_description"),
                  error.get("message") if isinstance(error, dict) else None,
                  _first(body.get("errors"))):
        if isinstance(found, str):
            return found
    return ""


def _first(errors: Any) -> Any:
    return errors[0].get("message") if isinstance(errors, list) and errors and isinstance(
        errors[0], dict) else None
