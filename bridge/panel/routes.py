"""/panel: sign-in, the page, its server-sent events and its actions (docs/panel.md).

The session is a cookie (`rb_panel`: HttpOnly, SameSite=Strict, Secure over TLS, path
/panel) holding a panel session token (bridge/services/panel_sessions.py). Every
request that changes something carries a CSRF token: the sign-in form the one its
page was served with (a cookie of its own), the sign-out form and the actions
(`X-CSRF-Token`) the one derived from the session.
"""

from __future__ import annotations

import secrets
from typing import Any

from apiflask import APIBlueprint, APIFlask
from flask import Response, current_app, redirect, render_template, request
from werkzeug.wrappers import Response as BaseResponse

from bridge.api.deps import Deps, current_deps
from bridge.api.errors import ErrorFormat, add_format
from bridge.api.password_logins import checked_user
from bridge.api.security_log import log as security_log
from bridge.gateway import EngineGateway
from bridge.panel.actions import ACTIONS, PanelActions, PanelRefusal
from bridge.panel.feed import LiveFeed
from bridge.panel.state_reader import StateReader, signed_in
from bridge.panel.stream import SIGNED_OUT, state_events
from bridge.panel.stream_slots import StreamSlots
from bridge.services.errors import ServiceError, Unauthorized
from bridge.services.panel_sessions import (
    close_session,
    csrf_matches,
    csrf_token,
    open_session,
)
from bridge.services.tenants import AmbiguousUsername
from bridge.store.session import Database

panel_blueprint = APIBlueprint("panel", __name__, url_prefix="/panel", enable_openapi=False,
                               template_folder="templates", static_folder="static")
COOKIE, SIGNIN_COOKIE = "rb_panel", "rb_panel_signin"
LONGEST, LONGEST_DOMAIN = 128, 253  # as the token endpoints take them; a SIP domain
PAGE_SECURITY = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_FEED, _SLOTS = "panel_feed", "panel_slots"


def register(app: APIFlask, deps: Deps) -> None:
    app.extensions[_FEED] = LiveFeed(deps.gateway)
    app.extensions[_SLOTS] = StreamSlots(deps.settings.panel_streams)
    add_format(app, ErrorFormat("/panel", _error_body))
    app.register_blueprint(panel_blueprint)


def _error_body(status: int, code: str, message: str, detail: Any) -> dict[str, Any]:
    return {"ok": False, "message": message}


@panel_blueprint.after_request
def secured(response: Response) -> Response:
    response.headers.update(PAGE_SECURITY)
    return response


# Signing in and out.

@panel_blueprint.get("/signin")
def signin_page() -> Response:
    return _signin(None, "", "", 200)


@panel_blueprint.post("/signin")
def signin() -> BaseResponse:
    form = request.form
    username, password = form.get("username", ""), form.get("password", "")
    domain = form.get("domain", "").strip()
    expected = request.cookies.get(SIGNIN_COOKIE, "")
    if not expected or not secrets.compare_digest(expected.encode(),
                                                  form.get("csrf", "").encode()):
        return _signin("The sign-in form was too old: please sign in again.", "", "", 400)
    if not (0 < len(username) <= LONGEST and 0 < len(password) <= LONGEST
            and len(domain) <= LONGEST_DOMAIN):
        return _signin(f"Give a username and a password of at most {LONGEST} characters.",
                       "", "", 400)
    try:
        user = checked_user(username, password, None, domain or None)
    except AmbiguousUsername:
        return _signin("This username is in more than one company: give your company's "
                       "SIP domain.", username, domain, 400)
    except ServiceError as exc:
        return _signin(exc.message, username, domain, exc.status)
    with _database().session() as session:
        token = open_session(session, user)
    security_log.info("panel session opened for tenant %s user %s from %s", user.tenant_id,
                      user.id, request.remote_addr)
    response = redirect("/panel", 303)
    response.set_cookie(COOKIE, token, path="/panel", httponly=True, samesite="Strict",
                        secure=_over_tls())
    response.delete_cookie(SIGNIN_COOKIE, path="/panel/signin")
    return response


def _signin(error: str | None, username: str, domain: str, status: int) -> Response:
    csrf = secrets.token_urlsafe(32)
    response = Response(render_template("panel/signin.html", error=error, username=username,
                                        domain=domain, csrf=csrf), status)
    response.set_cookie(SIGNIN_COOKIE, csrf, path="/panel/signin", httponly=True,
                        samesite="Strict", secure=_over_tls())
    return response


@panel_blueprint.post("/signout")
def signout() -> BaseResponse:
    token = request.cookies.get(COOKIE, "")
    if token and not csrf_matches(token, request.form.get("csrf", "")):
        raise PanelRefusal("the page's CSRF token is missing or wrong: reload it", 403)
    if token:
        with _database().session() as session:
            who = close_session(session, token)
        if who is not None:
            security_log.info("panel session closed for tenant %s user %s from %s",
                              who.tenant_id, who.user_id, request.remote_addr)
    response = redirect("/panel/signin", 303)
    response.delete_cookie(COOKIE, path="/panel")
    return response


# The page and its data.

@panel_blueprint.get("")
def page() -> BaseResponse:
    token = request.cookies.get(COOKIE, "")
    with _database().session() as session:
        found = signed_in(session, token)
        if found is None:
            return redirect("/panel/signin", 303)
        who, user, tenant = found
        return Response(render_template(
            "panel/panel.html", csrf=csrf_token(token), username=user.username,
            admin=who.admin, tenant_name=tenant.name))


@panel_blueprint.get("/state")
def state() -> dict[str, Any]:
    """The state the events carry, once (for scripts, and a look without the page)."""
    reader = StateReader(_database(), _gateway(), request.cookies.get(COOKIE, ""))
    found = reader(True)
    if found is None:
        raise Unauthorized("sign in at /panel/signin")
    return found


@panel_blueprint.get("/events")
def events() -> Response:
    """An ended session is told so in the stream (the page then goes to sign in): a
    browser's event source would only retry a 401."""
    token = request.cookies.get(COOKIE, "")
    with _database().session() as session:
        if signed_in(session, token) is None:
            return Response(SIGNED_OUT, mimetype="text/event-stream")
    streams: StreamSlots = current_app.extensions[_SLOTS]
    release = streams.take(token)
    stopping = current_app.config["STOPPING"]
    response = Response(state_events(
        StateReader(_database(), _gateway(), token), current_app.extensions[_FEED], stopping),
        mimetype="text/event-stream", headers={"X-Accel-Buffering": "no"})
    response.call_on_close(release)
    return response


@panel_blueprint.post("/actions/<name>")
def act(name: str) -> dict[str, Any]:
    action = ACTIONS.get(name)
    if action is None:
        raise PanelRefusal(f"no action {name!r}", 404)
    token = request.cookies.get(COOKIE, "")
    body = request.get_json(silent=True)
    with _database().session() as session:
        found = signed_in(session, token)
        if found is None:
            raise Unauthorized("your session has ended: sign in again")
        if not csrf_matches(token, request.headers.get("X-CSRF-Token", "")):
            raise PanelRefusal("the page's CSRF token is missing or wrong: reload it", 403)
        if not isinstance(body, dict):
            raise PanelRefusal("send a JSON object")
        who, _, tenant = found
        message = action(PanelActions(session, tenant, who, _gateway()), body)
    current_app.extensions[_FEED].touch()
    return {"ok": True, "message": message}


def _over_tls() -> bool:
    """Served over TLS, here or (public_url https://) at a proxy in front."""
    return request.is_secure or current_deps().settings.api_url.startswith("https://")


def _database() -> Database:
    return current_deps().database


def _gateway() -> EngineGateway:
    return current_deps().gateway
