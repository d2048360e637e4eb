"""Phone numbers: everything inside ringbridge is E.164; other forms only at the edges.

Numbers may come formatted as people write them: digits with an optional leading `+`,
separated by spaces, dashes or dots, with at most one pair of parentheses
(`+1 (415) 555-0100`, `415.555.0100`, `+44 (0)20 7946 0958`). Letters are refused (the
phonenumbers library would read vanity numbers such as `1-800-FLOWERS`), and so is
anything else.
"""

from __future__ import annotations

import contextlib
import re

import phonenumbers

# The forms numbers are taken in, as patterns that mean the same to Python's re.match
# and to ECMA-262 (the OpenAPI document's regex dialect): "(?!\n)" stops Python's "$"
# from matching before a trailing newline.
# FORMATTED_PATTERN: at least one digit, in or out of the one pair of parentheses; no
# lookahead, which generators of matching text (schemathesis) cannot do but by trial.
PLAIN_PATTERN = r"^\+?[0-9]{2,20}$(?!\n)"
_SEPARATED, _DIGITS = r"[0-9 .-]*", r"[0-9 .-]*[0-9][0-9 .-]*"
FORMATTED_PATTERN = (
    rf"^\+?(?:{_DIGITS}|{_DIGITS}\({_SEPARATED}\){_SEPARATED}|{_SEPARATED}\({_DIGITS}\)"
    rf"{_SEPARATED}|{_SEPARATED}\({_SEPARATED}\){_DIGITS})$(?!\n)")
FORMATTED_MAX_LENGTH = 32
_PLAIN = re.compile(PLAIN_PATTERN)
_FORMATTED = re.compile(FORMATTED_PATTERN)
_CALLING_CODE = re.compile(r"[0-9]{1,3}")
PLAIN_RULE = "use digits with an optional leading +"
FORMATTED_RULE = (f"{PLAIN_RULE} (spaces, dashes, dots and one pair of parentheses may "
                  "separate them)")
ANONYMOUS = "anonymous"  # a trunk caller who withheld their number, or gave none


class InvalidNumber(ValueError):
    """The text is not a valid phone number; str() says why, for the API client."""


def to_e164(text: str, region: str = "US", *, formatted: bool = True,
            or_international: bool = False) -> str:
    """`text` as E.164 (`+14155550100`); national numbers are read in `region`.

    `formatted=False` takes digits only (with an optional leading +). With
    `or_international`, digits that are no valid number there are read as if written
    with a leading + (`14155550100` in GB is `+14155550100`).
    """
    if not isinstance(text, str) or not _well_formed(text, formatted):
        rule = FORMATTED_RULE if formatted else PLAIN_RULE
        raise InvalidNumber(f"{text!r} is not a phone number: {rule}")
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


def trunk_caller(text: str, region: str) -> str:
    """A carrier's caller: E.164 (national numbers read in `region`, digits that are no
    number there as if written with a +), else ANONYMOUS: never a number that is none.

    The network asserts the number, so one of a possible length for its country is
    taken even where the library knows no assigned range (`+447700900123`, from the
    UK's range kept for drama).
    """
    if not isinstance(text, str) or not _well_formed(text, formatted=True):
        return ANONYMOUS
    readings = [text] if text.startswith("+") else [text, f"+{text}"]
    for reading in readings:
        with contextlib.suppress(phonenumbers.NumberParseException):
            number = phonenumbers.parse(reading, region.upper())
            if phonenumbers.is_possible_number(number):
                return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return ANONYMOUS


def _well_formed(text: str, formatted: bool) -> bool:
    if not formatted:
        return _PLAIN.match(text) is not None
    return len(text) <= FORMATTED_MAX_LENGTH and _FORMATTED.match(text) is not None


def is_region(code: str) -> bool:
    return code.upper() in phonenumbers.SUPPORTED_REGIONS


def region_for_calling_code(code: str) -> str | None:
    """The main region of a country calling code (`44` → `GB`); None when there is none."""
    if not _CALLING_CODE.fullmatch(code):
        return None
    region = phonenumbers.region_code_for_country_code(int(code))
    return None if region == phonenumbers.UNKNOWN_REGION else str(region)
