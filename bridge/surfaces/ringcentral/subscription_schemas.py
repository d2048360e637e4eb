"""The shapes of the subscription routes (subscriptions.py): RingCentral's
CreateSubscriptionRequest, UpdateSubscriptionRequest and SubscriptionInfo, WebHook
transport only, plus ringbridge's optional Standard Webhooks signing."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import Boolean, Integer, List, Nested, String
from apiflask.validators import Length, OneOf, Range

from bridge.api.schemas import HTTP_URL_PATTERN, SECRET_PATTERN, InputSchema, WholeJsonNumber
from bridge.services.signing_secrets import GENERATE
from bridge.services.subscriptions import MAX_LIFETIME

FILTERS = ("/restapi/v1.0/account/~/telephony/sessions (admins), or "
           "/restapi/v1.0/account/~/extension/{extensionId or ~}/telephony/sessions")


class DeliveryModeIn(InputSchema):
    transportType = String(required=True, validate=OneOf(["WebHook"]))
    address = String(required=True, validate=Length(1, 2048), metadata={
        "description": "http(s) URL that answers the Validation-Token handshake; a host, "
                       "an optional port and path, no credentials, query or fragment",
        "pattern": HTTP_URL_PATTERN})
    verificationToken = String(validate=Length(1, 64), metadata={
        "description": "sent back in the Verification-Token header of every notification"})
    signingSecret = String(validate=Length(1, 100), metadata={
        "pattern": SECRET_PATTERN,
        "description": f"ringbridge's: {GENERATE!r} (the secret is answered once) or a "
                       "whsec_ secret: every notification is signed the Standard Webhooks "
                       "way, as dispatch deliveries are"})
    encryption = Boolean(truthy={True}, falsy={False}, validate=OneOf([False]), metadata={
        "description": "false only: notifications are not encrypted"})


# The filters offered (subscriptions.py checks the account and extension they name).
FILTER_PATTERN = (r"^/restapi/v1\.0/account/([^/?#]+)(?:/extension/([^/?#]+))?"
                  r"/telephony/sessions$(?!\n)")
FILTER = String(validate=Length(1, 512), metadata={"pattern": FILTER_PATTERN})


class SubscriptionIn(InputSchema):
    eventFilters = List(FILTER, required=True,
                        validate=Length(1, 50), metadata={"description": FILTERS})
    deliveryMode = Nested(DeliveryModeIn, required=True)
    expiresIn = WholeJsonNumber(validate=Range(1, MAX_LIFETIME), metadata={
        "description": "seconds (default 604800: 7 days)"})


class SubscriptionUpdateIn(InputSchema):
    eventFilters = List(FILTER, validate=Length(1, 50),
                        metadata={"description": FILTERS})
    deliveryMode = Nested(DeliveryModeIn)
    expiresIn = WholeJsonNumber(validate=Range(1, MAX_LIFETIME), metadata={
        "description": "seconds, counted afresh from now"})


class DeliveryModeOut(Schema):
    transportType = String(required=True)
    address = String(required=True)
    encryption = Boolean(required=True)
    signingSecret = String(metadata={"description": "only in the answer that made it"})


class SubscriptionOut(Schema):
    id = String(required=True)
    uri = String(required=True)
    eventFilters = List(String(), required=True)
    disabledFilters = List(String(), required=True)
    expirationTime = String(required=True)
    expiresIn = Integer(required=True, metadata={"description": "seconds left"})
    status = String(required=True, metadata={"description": "Active or Expired"})
    creationTime = String(required=True)
    deliveryMode = Nested(DeliveryModeOut, required=True)


class SubscriptionListOut(Schema):
    uri = String(required=True)
    records = List(Nested(SubscriptionOut), required=True)
