from __future__ import annotations

import pytest

from bridge.flows.hunt import presented
from bridge.gateway import Target
from bridge.surfaces.voipnow.caller_ids import CallerId, CallerIdInvalid, parse_caller_id


@pytest.mark.parametrize(("text", "expected"), [
    ("42420042", CallerId("42420042")), ("+441234567890", CallerId("+441234567890")),
    ("John Doe <42420042>", CallerId("42420042", "John Doe")),
    ('  "John Doe"   <42420042>', CallerId("42420042", "John Doe")),
    ("<42420042>", CallerId("42420042")),
])
def test_a_number_or_name_and_number(text: str, expected: CallerId) -> None:
    assert parse_caller_id(text) == expected


@pytest.mark.parametrize("text", ["x\r\nX-Injected: 1", "42420042\n", "Jo<hn <1>",
                                  'Jo"hn <1>', "John <1> x", "John <1>>", "", "John",
                                  "sip:1@h", "John\x00 <1>", "Jo\\hn <1>", "A\u0085B <1>"])
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(CallerIdInvalid):
        parse_caller_id(text)


def test_the_leg_presents_name_and_number_as_connectedline_reads_them() -> None:
    target = Target(key=1, dial="PJSIP/1@x", label="1", caller_number="42420042",
                    caller_name="John Doe")
    assert presented(target) == '"John Doe" <42420042>'
    assert presented(Target(key=1, dial="d", label="1", caller_number="+44")) == "<+44>"
