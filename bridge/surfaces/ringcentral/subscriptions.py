"""RingCentral's subscriptions, WebHook transport, for telephony session events:
`/restapi/v1.0/subscription`.

A subscription is the caller's: listed, read, changed, renewed and deleted only with
a token of the same user (tenant-wide tokens share theirs). Its filters name the
sessions it follows: the account's (admins only) or extensions' (with the access checks
of RingOut's paths). Its address must pass RingCentral's Validation-Token handshake
(webhooks.py) before it is kept. What its notifications carry:
bridge/surfaces/ringcentral/telephony_sessions.py; how they are sent:
bridge/engine/session_notifier.py.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from apiflask import APIBlueprint, APIFlask
from flask import current_app

from bridge.api.auth import bearer
from bridge.api.context import RequestContext, tenant_context
from bridge.api.formats import rfc3339
from bridge.api.schemas import NOT_JSON, body_errors, error_bodies
from bridge.api.urls import absolute_url
from bridge.config import Settings
from bridge.http_urls import allowed_networks
from bridge.services import subscriptions
from bridge.services.errors import ValidationFailed
from bridge.store.models import Subscription, aware
from bridge.surfaces.ringcentral.errors import RINGCENTRAL_ERROR_SCHEMA
from bridge.surfaces.ringcentral.paths import NotPermitted, check_account, reached_extension
from bridge.surfaces.ringcentral.rate_limits import RATE_EXCEEDED, rate_group
from bridge.surfaces.ringcentral.ringout import parsable_json, refuse_expired_token
from bridge.surfaces.ringcentral.subscription_schemas import (
    FILTER_PATTERN,
    SubscriptionIn,
    SubscriptionListOut,
    SubscriptionOut,
    SubscriptionUpdateIn,
)
from bridge.surfaces.ringcentral.webhooks import check_reachable_by_policy, handshake

subscriptions_blueprint = APIBlueprint("ringcentral_subscriptions", __name__,
                                       tag="Subscriptions",
                                       url_prefix="/restapi/v1.0/subscription")
subscriptions_blueprint.before_request(refuse_expired_token)
FILTER = re.compile(FILTER_PATTERN)
NOT_FOUND = "No such subscription of this user (CMN-102)"
REFUSED = ("An event filter on an account or extension this token does not reach "
           "(CMN-408)")
INVALID = ("Invalid parameter (CMN-101); the address refused (SUB-521: not public) or "
           "failing the handshake (SUB-525)")


def configure(app: APIFlask, settings: Settings) -> None:
    app.config["WEBHOOK_ALLOWED_NETWORKS"] = allowed_networks(
        settings.webhook_allowed_networks)


def _scope(ctx: RequestContext, filters: list[str]) -> subscriptions.Scope:
    """What the filters follow; each checked as the path it names would be."""
    account_level, extension_ids = False, []
    for text in filters:
        named = FILTER.match(text)
        if named is None:
            raise ValidationFailed(f"event filter {text!r} is not offered; ringbridge has "
                                   "/restapi/v1.0/account/~/telephony/sessions and "
                                   "/restapi/v1.0/account/~/extension/{id or ~}/telephony/"
                                   "sessions", field="eventFilters")
        account_id, extension_id = named.groups()
        if extension_id is None:
            check_account(ctx.tenant, account_id)
            if not ctx.principal.admin:
                raise NotPermitted("a user's token follows its own extensions' sessions, "
                                   "not the account's", field="eventFilters")
            account_level = True
        else:
            extension_ids.append(reached_extension(ctx.session, ctx.tenant, ctx.principal,
                                                   account_id, extension_id).id)
    return subscriptions.Scope(account_level, tuple(dict.fromkeys(extension_ids)))


def _delivery(mode: dict[str, Any]) -> subscriptions.Delivery:
    """The delivery mode checked: a valid address the operator allows, that answers the
    handshake."""
    delivery = subscriptions.check_delivery(mode["address"], mode.get("verificationToken"),
                                            mode.get("signingSecret"))
    check_reachable_by_policy(delivery.address, current_app.config["WEBHOOK_ALLOWED_NETWORKS"])
    handshake(delivery.address)
    return delivery


def _render(row: Subscription, secret_shown: bool = False) -> dict[str, Any]:
    now = datetime.now(UTC)
    expires = aware(row.expires_at)
    mode: dict[str, Any] = {"transportType": "WebHook", "address": row.address,
                            "encryption": False}
    if secret_shown and row.signing_secret:
        mode["signingSecret"] = row.signing_secret
    return {"id": str(row.id),
            "uri": absolute_url("ringcentral_subscriptions.show", subscription_id=str(row.id)),
            "eventFilters": list(row.event_filters), "disabledFilters": [],
            "expirationTime": rfc3339(expires),
            "expiresIn": max(0, int((expires - now).total_seconds())),
            "status": "Active" if subscriptions.is_active(row, now) else "Expired",
            "creationTime": rfc3339(row.created_at), "deliveryMode": mode}


@subscriptions_blueprint.post("")
@rate_group("Medium")
@subscriptions_blueprint.auth_required(bearer)
@parsable_json
@subscriptions_blueprint.input(SubscriptionIn)
@subscriptions_blueprint.output(SubscriptionOut)
@subscriptions_blueprint.doc(
    summary="Subscribe a WebHook to telephony sessions",
    description="The address first gets an empty POST with a `Validation-Token` header, "
                "which it must answer within 3 s with 200 and the same header. Then each "
                "change of a party's status in a session the filters follow is POSTed to "
                "it (retried for 10 minutes when not answered 2xx).",
    responses={**error_bodies(RINGCENTRAL_ERROR_SCHEMA, {
        400: INVALID, 403: REFUSED, 404: "Account or extension not found (CMN-102)",
        429: RATE_EXCEEDED}),
        **body_errors(RINGCENTRAL_ERROR_SCHEMA, f"{NOT_JSON} (CMN-415)")})
def create(json_data: dict[str, Any]) -> dict[str, Any]:
    with tenant_context() as ctx:
        scope = _scope(ctx, json_data["eventFilters"])
        delivery = _delivery(json_data["deliveryMode"])
        row = subscriptions.create(ctx.session, ctx.tenant, ctx.principal.user_id,
                                   json_data["eventFilters"], scope, delivery,
                                   json_data.get("expiresIn"))
        return _render(row, secret_shown=True)


@subscriptions_blueprint.get("")
@rate_group("Light")
@subscriptions_blueprint.auth_required(bearer)
@subscriptions_blueprint.output(SubscriptionListOut)
@subscriptions_blueprint.doc(summary="This user's subscriptions",
                             responses={429: RATE_EXCEEDED})
def list_all() -> dict[str, Any]:
    with tenant_context() as ctx:
        rows = subscriptions.owned(ctx.session, ctx.tenant, ctx.principal.user_id)
        return {"uri": absolute_url("ringcentral_subscriptions.list_all"),
                "records": [_render(row) for row in rows]}


@subscriptions_blueprint.get("/<subscription_id>")
@rate_group("Light")
@subscriptions_blueprint.auth_required(bearer)
@subscriptions_blueprint.output(SubscriptionOut)
@subscriptions_blueprint.doc(summary="A subscription",
                             responses={404: NOT_FOUND, 429: RATE_EXCEEDED})
def show(subscription_id: str) -> dict[str, Any]:
    with tenant_context() as ctx:
        return _render(_find(ctx, subscription_id))


@subscriptions_blueprint.put("/<subscription_id>")
@rate_group("Medium")
@subscriptions_blueprint.auth_required(bearer)
@parsable_json
@subscriptions_blueprint.input(SubscriptionUpdateIn)
@subscriptions_blueprint.output(SubscriptionOut)
@subscriptions_blueprint.doc(
    summary="Change a subscription's filters, address or lifetime",
    description="A new address must pass the handshake again.",
    responses={**error_bodies(RINGCENTRAL_ERROR_SCHEMA, {
        400: INVALID, 403: REFUSED, 404: NOT_FOUND, 429: RATE_EXCEEDED}),
        **body_errors(RINGCENTRAL_ERROR_SCHEMA, f"{NOT_JSON} (CMN-415)")})
def update(subscription_id: str, json_data: dict[str, Any]) -> dict[str, Any]:
    with tenant_context() as ctx:
        row = _find(ctx, subscription_id)
        filters = json_data.get("eventFilters")
        scope = _scope(ctx, filters) if filters is not None else None
        mode = json_data.get("deliveryMode")
        delivery = _delivery(mode) if mode is not None else None
        subscriptions.change(row, filters, scope, delivery, json_data.get("expiresIn"))
        return _render(row, secret_shown=delivery is not None)


@subscriptions_blueprint.post("/<subscription_id>/renew")
@rate_group("Medium")
@subscriptions_blueprint.auth_required(bearer)
@subscriptions_blueprint.output(SubscriptionOut)
@subscriptions_blueprint.doc(summary="Renew a subscription for the lifetime it was made with",
                             responses={404: NOT_FOUND, 429: RATE_EXCEEDED})
def renew(subscription_id: str) -> dict[str, Any]:
    with tenant_context() as ctx:
        row = _find(ctx, subscription_id)
        subscriptions.renew(row)
        return _render(row)


@subscriptions_blueprint.delete("/<subscription_id>")
@rate_group("Medium")
@subscriptions_blueprint.auth_required(bearer)
@subscriptions_blueprint.output({}, status_code=204)
@subscriptions_blueprint.doc(summary="Delete a subscription (its pending notifications too)",
                             responses={404: NOT_FOUND, 429: RATE_EXCEEDED})
def delete(subscription_id: str) -> tuple[str, int]:
    with tenant_context() as ctx:
        ctx.session.delete(_find(ctx, subscription_id))
    return "", 204


def _find(ctx: RequestContext, subscription_id: str) -> Subscription:
    return subscriptions.find(ctx.session, ctx.tenant, ctx.principal.user_id, subscription_id)
