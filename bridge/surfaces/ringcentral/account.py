"""Who am I and which numbers may I use: RingCentral's account, extension and
extension phone-number routes under `/restapi/v1.0/account/{accountId}`.

Ids and `~` resolve as for RingOut (paths.py). The phone-number list is the numbers a
RingOut from the extension accepts as `callerId` (ringout_service.allowed_caller_ids).
`uri`s are canonical: they name the account and extension by id, also when the request
said `~`. All three are in the Light rate group (rate_limits.py).
"""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from bridge.api.auth import bearer
from bridge.api.context import tenant_context
from bridge.api.urls import absolute_url
from bridge.store.ids import encode_id
from bridge.store.models import Extension, Tenant
from bridge.surfaces.ringcentral.account_schemas import (
    AccountOut,
    ExtensionOut,
    PhoneNumberArgsIn,
    PhoneNumberListOut,
)
from bridge.surfaces.ringcentral.paging import PageUri, paged
from bridge.surfaces.ringcentral.paths import check_account, reached_extension
from bridge.surfaces.ringcentral.rate_limits import RATE_EXCEEDED, rate_group
from bridge.surfaces.ringcentral.ringout import NOT_PERMITTED, refuse_expired_token
from bridge.surfaces.ringcentral.ringout_service import allowed_caller_ids

account_blueprint = APIBlueprint("ringcentral_account", __name__, tag="Account",
                                 url_prefix="/restapi/v1.0/account/<account_id>")
account_blueprint.before_request(refuse_expired_token)
ACCOUNT_NOT_FOUND = "Account not found (CMN-102)"
EXTENSION_NOT_FOUND = ("Account or extension not found; `~` when the token's user owns no "
                       "extension, or the token has no user (CMN-102)")
DIRECT_NUMBER = "DirectNumber"


def _regional_settings(tenant: Tenant) -> dict[str, Any]:
    return {"homeCountry": {"isoCode": tenant.region}, "timezone": {"name": tenant.time_zone}}


def _account_info(tenant: Tenant) -> dict[str, Any]:
    return {"id": encode_id(tenant.id),
            "uri": absolute_url("ringcentral_account.account", account_id=encode_id(tenant.id)),
            "status": "Confirmed", "companyName": tenant.name,
            "externalAccountId": tenant.company_id,
            "regionalSettings": _regional_settings(tenant)}


def _extension_info(extension: Extension) -> dict[str, Any]:
    info = {"id": encode_id(extension.id),
            "uri": absolute_url("ringcentral_account.extension",
                                account_id=encode_id(extension.tenant_id),
                                extension_id=encode_id(extension.id)),
            "extensionNumber": extension.extension_number, "type": "User",
            "status": "Enabled", "regionalSettings": _regional_settings(extension.tenant)}
    if extension.display_name:
        info["name"] = extension.display_name
    return info


def _caller_id_record(number: str) -> dict[str, Any]:
    return {"id": number.lstrip("+"), "phoneNumber": number, "type": "VoiceOnly",
            "usageType": DIRECT_NUMBER, "features": ["CallerId"]}


@account_blueprint.get("")
@rate_group("Light")
@account_blueprint.auth_required(bearer)
@account_blueprint.output(AccountOut)
@account_blueprint.doc(summary="The account: the token's tenant (`~`) or the tenant by id",
                       responses={404: ACCOUNT_NOT_FOUND, 429: RATE_EXCEEDED})
def account(account_id: str) -> dict[str, Any]:
    with tenant_context() as ctx:
        check_account(ctx.tenant, account_id)
        return _account_info(ctx.tenant)


@account_blueprint.get("/extension/<extension_id>")
@rate_group("Light")
@account_blueprint.auth_required(bearer)
@account_blueprint.output(ExtensionOut)
@account_blueprint.doc(summary="An extension: the token user's own (`~`) or one by id",
                       responses={403: NOT_PERMITTED, 404: EXTENSION_NOT_FOUND,
                                  429: RATE_EXCEEDED})
def extension(account_id: str, extension_id: str) -> dict[str, Any]:
    with tenant_context() as ctx:
        return _extension_info(reached_extension(ctx.session, ctx.tenant, ctx.principal,
                                                 account_id, extension_id))


@account_blueprint.get("/extension/<extension_id>/phone-number")
@rate_group("Light")
@account_blueprint.auth_required(bearer)
@account_blueprint.input(PhoneNumberArgsIn, location="query")
@account_blueprint.output(PhoneNumberListOut)
@account_blueprint.doc(summary="The numbers the extension may give as a RingOut's callerId",
                       description="Exactly those a RingOut from this extension accepts as "
                                   "`callerId` (the extension's `caller_ids`), in their order.",
                       responses={403: NOT_PERMITTED, 404: EXTENSION_NOT_FOUND,
                                  429: RATE_EXCEEDED})
def phone_numbers(account_id: str, extension_id: str,
                  query_data: dict[str, Any]) -> dict[str, Any]:
    wanted = query_data.get("usageType")
    with tenant_context() as ctx:
        found = reached_extension(ctx.session, ctx.tenant, ctx.principal, account_id,
                                  extension_id)
        records = [_caller_id_record(number) for number in allowed_caller_ids(found)
                   if wanted is None or DIRECT_NUMBER in wanted]
        return paged(records, query_data["page"], query_data["perPage"],
                     _numbers_uri(found))


def _numbers_uri(extension: Extension) -> PageUri:
    account_id, extension_id = encode_id(extension.tenant_id), encode_id(extension.id)
    return lambda page, per_page: absolute_url(
        "ringcentral_account.phone_numbers", account_id=account_id,
        extension_id=extension_id, page=page, perPage=per_page)
