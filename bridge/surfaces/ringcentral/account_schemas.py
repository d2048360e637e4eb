"""The shapes of the account routes (account.py): RingCentral's GetAccountInfoResponse,
GetExtensionInfoResponse and GetExtensionPhoneNumbersResponse, with only the fields
ringbridge can fill truthfully."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import Integer, List, Nested, String
from apiflask.validators import Length, Range
from marshmallow import EXCLUDE

from bridge.api.listing import MAX_INT
from bridge.api.schemas import InputSchema, WholeNumber
from bridge.surfaces.ringcentral.paging import DEFAULT_PER_PAGE, MAX_PER_PAGE


class CountryOut(Schema):
    isoCode = String(required=True, metadata={
        "description": "ISO 3166-1 alpha-2: the tenant's region, where national numbers "
                       "are read"})


class TimezoneOut(Schema):
    name = String(required=True, metadata={"description": "IANA name: the tenant's time zone"})


class RegionalSettingsOut(Schema):
    homeCountry = Nested(CountryOut, required=True)
    timezone = Nested(TimezoneOut, required=True)


class AccountOut(Schema):
    id = String(required=True, metadata={"description": "the tenant's id"})
    uri = String(required=True)
    status = String(required=True, metadata={"description": "Confirmed"})
    companyName = String(required=True, metadata={"description": "the tenant's name"})
    externalAccountId = String(required=True, metadata={
        "description": "the tenant's company id (the dispatch companyId)"})
    regionalSettings = Nested(RegionalSettingsOut, required=True)


class ExtensionOut(Schema):
    id = String(required=True, metadata={"description": "as the extensions API shows it"})
    uri = String(required=True)
    extensionNumber = String(required=True)
    name = String(metadata={"description": "the display name; left out when it has none"})
    type = String(required=True, metadata={"description": "User"})
    status = String(required=True, metadata={"description": "Enabled"})
    regionalSettings = Nested(RegionalSettingsOut, required=True)


class PhoneNumberOut(Schema):
    id = String(required=True, metadata={"description": "the number's digits"})
    phoneNumber = String(required=True, metadata={"description": "E.164"})
    type = String(required=True, metadata={"description": "VoiceOnly"})
    usageType = String(required=True, metadata={"description": "DirectNumber"})
    features = List(String(), required=True, metadata={"description": "[CallerId]"})


class PagingOut(Schema):
    page = Integer(required=True)
    perPage = Integer(required=True)
    pageStart = Integer(metadata={"description": "0-based; left out on an empty page"})
    pageEnd = Integer(metadata={"description": "0-based; left out on an empty page"})
    totalPages = Integer(required=True)
    totalElements = Integer(required=True)


class PageUriOut(Schema):
    uri = String(required=True)


class NavigationOut(Schema):
    firstPage = Nested(PageUriOut, required=True)
    nextPage = Nested(PageUriOut)
    previousPage = Nested(PageUriOut)
    lastPage = Nested(PageUriOut, required=True)


class PhoneNumberListOut(Schema):
    uri = String(required=True)
    records = List(Nested(PhoneNumberOut), required=True)
    paging = Nested(PagingOut, required=True)
    navigation = Nested(NavigationOut, required=True)


class PhoneNumberArgsIn(InputSchema):
    """RingCentral's query of the list; other arguments (`status`...) are ignored."""

    class Meta:
        unknown = EXCLUDE

    page = WholeNumber(load_default=1, validate=Range(
        1, MAX_INT, error="must be at least {min}, not {input}"),
        metadata={"description": "1-based"})
    perPage = WholeNumber(load_default=DEFAULT_PER_PAGE, validate=Range(
        1, MAX_INT, error="must be at least {min}, not {input}"),
        metadata={"description": f"more than {MAX_PER_PAGE} is read as {MAX_PER_PAGE}"})
    usageType = List(String(validate=Length(1, 64)), metadata={
        "description": "only numbers of these usage types (ringbridge's are all "
                       "DirectNumber)"})
