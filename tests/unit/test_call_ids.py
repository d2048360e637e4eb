"""Call ids: the dispatch `callId`, a leg's and a bridge's name (`rb-<call id>-<n>`)."""

from __future__ import annotations

import string
from collections import Counter

from bridge.flows.calls import new_call_id


def test_a_call_id_is_twenty_letters_and_digits() -> None:
    for call_id in (new_call_id() for _ in range(1000)):
        assert len(call_id) == 20
        assert set(call_id) <= set(string.ascii_letters + string.digits)


def test_call_ids_differ_and_use_every_letter_and_digit_evenly() -> None:
    ids = [new_call_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    used = Counter("".join(ids))  # 200,000 letters: about 3,226 of each of the 62
    assert set(used) == set(string.ascii_letters + string.digits)
    assert min(used.values()) > 2_800 and max(used.values()) < 3_700
