"""Phone numbers: everything inside ringbridge is E.164; other forms only at the edges."""

from __future__ import annotations

import contextlib
import re

import phonenumbers

# Digits with an optional leading +; no spaces, dashes or letters (vendors reject those).
_PLAIN_NUMBER = re.compile(r"\+?[0-9]{2,20}")


class InvalidNumber(ValueError):
    """The text is not a valid phone number; str() says why, for the API client."""


def to_e164(text: str, region: str = "US", *, or_international: bool = False) -> str:
    """`text` as E.164 (`+14155550100`); national numbers are read in `region`. With
    `or_international`, digits that are no valid number there are read as if written
    with a leading + (`14155550100` in GB is `+14155550100`)."""
    if not isinstance(text, str) or not _PLAIN_NUMBER.fullmatch(text):
        raise InvalidNumber(f"{text!r} is not a phone number: use digits with an optional +")
    try:
        number = phonenumbers.parse(text, None if text.startswith("+") else region.upper())
    except phonenumbers.NumberParseException as exc:
        raise InvalidNumber(f"{text!r} is not a phone number: {exc}") from exc
    if phonenumbers.is_valid_number(number):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if or_international and not text.startswith("+"):
        with contextlib.suppress(InvalidNumber):
            return to_e164(f"+{text}")
        raise InvalidNumber(f"{text!r} is not a valid number (region {region.upper()}, "
                            "nor with a +)")
    raise InvalidNumber(f"{text!r} is not a valid number (region {region.upper()})")


def is_region(code: str) -> bool:
    return code.upper() in phonenumbers.SUPPORTED_REGIONS
