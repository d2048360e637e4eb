"""A carrier's caller as ringbridge presents it on the caller's channel."""

from __future__ import annotations

import asyncio

import pytest

from bridge.engine.trunk_callers import present_trunk_caller, presented_name
from tests.unit.fake_ari import FakeAri


@pytest.mark.parametrize("given, number, name", [
    ("", "+447700900123", "+447700900123"),
    ("07700 900123", "+447700900123", "+447700900123"),  # a number is no name
    ("+447700900123", "+447700900123", "+447700900123"),
    ("ACME Ltd", "+447700900123", "ACME Ltd"),
    ('Bad "name" <x>', "+447700900123", "Bad name x"),  # nothing that breaks a From
    ("Anonymous", "anonymous", "Anonymous"),
    ("07700 900123", "anonymous", "Anonymous"),  # never the number of a withheld caller
])
def test_the_name_is_the_carriers_when_it_is_a_name(given: str, number: str,
                                                    name: str) -> None:
    assert presented_name(given, number) == name


def channel(number: str, name: str) -> dict[str, object]:
    return {"id": "in-1", "caller": {"number": number, "name": name}}


def test_the_callers_channel_gets_the_number_and_name() -> None:
    ari = FakeAri()
    name = asyncio.run(present_trunk_caller(ari, "c1", channel("07700900123", ""),
                                            "+447700900123"))
    assert name == "+447700900123"
    assert ari.requests == [("POST", "/channels/in-1/variable", {
        "variable": "CALLERID(all)", "value": '"+447700900123" <+447700900123>'})]


def test_a_caller_presented_already_costs_no_request() -> None:
    ari = FakeAri()
    asyncio.run(present_trunk_caller(ari, "c1", channel("+447700900123", "+447700900123"),
                                     "+447700900123"))
    assert ari.requests == []


def test_a_caller_gone_meanwhile_is_no_error() -> None:
    ari = FakeAri(failing=("/variable",))
    name = asyncio.run(present_trunk_caller(ari, "c1", channel("0", ""), "anonymous"))
    assert name == "Anonymous"
