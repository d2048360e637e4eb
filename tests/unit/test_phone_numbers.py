"""bridge/phone_numbers.py: the one place where any input number becomes E.164."""

from __future__ import annotations

import pytest

from bridge.phone_numbers import (
    ANONYMOUS,
    InvalidNumber,
    is_region,
    region_for_calling_code,
    to_e164,
    trunk_caller,
)


@pytest.mark.parametrize("text, region, e164", [
    ("+14155550100", "US", "+14155550100"),
    ("4155550100", "US", "+14155550100"),
    ("4155550100", "us", "+14155550100"),
    ("02079460958", "GB", "+442079460958"),
    ("+442079460958", "US", "+442079460958"),  # with + the region does not matter
    ("00442079460958", "GB", "+442079460958"),  # the region's international prefix
    ("+1-415-555-0100", "US", "+14155550100"),
    ("(415) 555-0100", "US", "+14155550100"),
    ("(415)555-0100", "US", "+14155550100"),
    ("+1 415 555 0100", "US", "+14155550100"),
    ("+1 (415) 555-0100", "US", "+14155550100"),
    ("415.555.0100", "US", "+14155550100"),
    ("+44 (0)20 7946 0958", "GB", "+442079460958"),
    ("020 7946 0958", "GB", "+442079460958"),
])
def test_numbers_as_people_write_them_become_e164(text: str, region: str, e164: str) -> None:
    assert to_e164(text, region) == e164


@pytest.mark.parametrize("text", [
    "", "+", "()", "- . -", "1-800-FLOWERS", "+1415555010O", "tel:+14155550100",
    "+14155550100;ext=2", "415 555 0100 x2", "+1 415 555 0100\n", "\t4155550100",
    "+1\u00a0415\u00a0555\u00a00100", "\uff0b14155550100", "++14155550100",
    "".join(chr(0x0660 + int(digit)) for digit in "4155550100"),  # Arabic-Indic digits
    "4155550100+", "1/415/555/0100", "(415) (555) 0100", "415) 555-0100 (",
    "(415 555-0100", "+1 " + "5" * 40,
])
def test_letters_and_other_characters_are_refused(text: str) -> None:
    with pytest.raises(InvalidNumber, match="is not a phone number"):
        to_e164(text)


@pytest.mark.parametrize("text", ["12", "123", "+1415", "555-0100", "+1 (415) 555-01"])
def test_too_short_numbers_are_refused(text: str) -> None:
    with pytest.raises(InvalidNumber):
        to_e164(text)


@pytest.mark.parametrize("text, region", [
    ("+10005550100", "US"),  # no US area code starts with 0
    ("+999123456789", "US"),  # no such country code
    ("0123", "GB"),
    ("+1 415 555 0100 1234 5678", "US"),
])
def test_invalid_numbers_are_refused(text: str, region: str) -> None:
    with pytest.raises(InvalidNumber):
        to_e164(text, region)


def test_the_error_says_what_was_given_and_what_is_wanted() -> None:
    with pytest.raises(InvalidNumber) as refused:
        to_e164("1-800-FLOWERS")
    assert str(refused.value) == (
        "'1-800-FLOWERS' is not a phone number: use digits with an optional leading + "
        "(spaces, dashes, dots and one pair of parentheses may separate them)")
    with pytest.raises(InvalidNumber) as invalid:
        to_e164("+10005550100", "us")
    assert str(invalid.value) == "'+10005550100' is not a valid number (region US)"


@pytest.mark.parametrize("text", ["+1-415-555-0100", "(415) 555-0100", "415 555 0100"])
def test_digits_only_refuses_formatting(text: str) -> None:
    with pytest.raises(InvalidNumber, match=r"use digits with an optional leading \+$"):
        to_e164(text, formatted=False)


@pytest.mark.parametrize("text", ["+14155550100", "4155550100"])
def test_digits_only_takes_plain_numbers(text: str) -> None:
    assert to_e164(text, formatted=False) == "+14155550100"


def test_anything_but_text_is_refused() -> None:
    with pytest.raises(InvalidNumber):
        to_e164(14155550100)  # type: ignore[arg-type]


@pytest.mark.parametrize("code, region", [("1", "US"), ("44", "GB"), ("001", "US"),
                                          ("49", "DE"), ("999", None), ("0", None),
                                          ("1234", None), ("²", None), ("GB", None),
                                          ("", None), ("-1", None)])
def test_region_for_calling_code(code: str, region: str | None) -> None:
    assert region_for_calling_code(code) == region


@pytest.mark.parametrize("code, known", [("GB", True), ("gb", True), ("US", True),
                                         ("ZZ", False), ("XX", False), ("", False)])
def test_is_region(code: str, known: bool) -> None:
    assert is_region(code) is known


@pytest.mark.parametrize("text, region, caller", [
    ("+447700900123", "US", "+447700900123"),
    ("07700900123", "GB", "+447700900123"),  # national, in the tenant's region
    ("07700 900123", "GB", "+447700900123"),
    ("00447700900123", "GB", "+447700900123"),
    ("447700900123", "GB", "+447700900123"),  # international without its +
    ("4155550100", "US", "+14155550100"),
    ("anonymous", "GB", ANONYMOUS),
    ("Anonymous", "US", ANONYMOUS),
    ("", "GB", ANONYMOUS),
    ("unknown", "GB", ANONYMOUS),
    ("123", "GB", ANONYMOUS),  # no number in GB, nor with a +
    ("+999123", "GB", ANONYMOUS),
    ("carrier", "US", ANONYMOUS),
])
def test_a_trunk_caller_is_e164_or_anonymous(text: str, region: str, caller: str) -> None:
    assert trunk_caller(text, region) == caller
