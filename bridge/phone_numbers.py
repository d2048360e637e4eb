"""Phone numbers: everything inside ringbridge is E.164; other forms only at the edges."""

from __future__ import annotations

import re

import phonenumbers

# Digits with an optional leading +; no spaces, dashes or letters (vendors reject those).
_PLAIN_NUMBER = re.compile(r"\+?[0-9]{2,20}")


class InvalidNumber(ValueError):
    """The text is not a valid phone number; str() says why, for the API client."""


def to_e164(text: str, region: str = "US") -> str:
    """`text` as E.164 (`+14155550100`); national numbers are read in `region`."""
    if not isinstance(text, str) or not _PLAIN_NUMBER.fullmatch(text):
        raise InvalidNumber(f"{text!r} is not a phone number: use digits with an optional +")
    try:
        number = phonenumbers.parse(text, None if text.startswith("+") else region.upper())
    except phonenumbers.NumberParseException as exc:
        raise InvalidNumber(f"{text!r} is not a phone number: {exc}") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidNumber(f"{text!r} is not a valid number (region {region.upper()})")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def is_region(code: str) -> bool:
    return code.upper() in phonenumbers.SUPPORTED_REGIONS
