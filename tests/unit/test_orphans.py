"""Which channels no flow runs any more, after a restart of ringbridge."""

from __future__ import annotations

from typing import Any

from bridge.engine.orphans import find_orphans, left_ringing, stasis_args


def channel(channel_id: str, app_name: str = "", app_data: str = "",
            state: str = "Ring") -> dict[str, Any]:
    return {"id": channel_id, "state": state,
            "dialplan": {"context": "from-phones", "exten": "6000", "priority": 1,
                         "app_name": app_name, "app_data": app_data}}


def test_stasis_args_are_read_from_the_dialplan_application() -> None:
    assert stasis_args(channel("c", "Stasis", "ringbridge,dial,6000")) == ("dial", "6000")
    assert stasis_args(channel("c", "Stasis", "ringbridge")) == ()


def test_stasis_args_of_a_call_an_engine_claimed_from_the_offer() -> None:
    offered = "1000,^ringbridge(-[0-9]+)?$,inbound:+442079460958"
    assert stasis_args(channel("c", "StasisBroadcast", offered)) == (
        "inbound", "+442079460958")
    assert stasis_args(channel("c", "StasisBroadcast", "1000,^ringbridge$")) == ()


def test_channels_outside_stasis_have_no_arguments() -> None:
    assert stasis_args(channel("c", "Park", "rb-acme.example")) is None
    assert stasis_args(channel("c", "Dial", "PJSIP/1002,30")) is None
    assert stasis_args({"id": "c"}) is None


def test_unowned_callers_and_legs_are_orphans_owned_ones_are_not() -> None:
    channels = [
        channel("1733.1", "Stasis", "ringbridge,dial,6000"),
        channel("1733.2", "StasisBroadcast", "1000,^ringbridge(-[0-9]+)?$,inbound:+442079460958",
                state="Up"),
        channel("1733.3", "Stasis", "ringbridge,dial,6001"),  # its flow runs
        channel("rb-AbC123-2", "Stasis", "ringbridge,leg,AbC123"),  # a leg of a hunt
        channel("rb-4172586-1", "Stasis", "ringbridge,ringout,4172586"),  # of a RingOut
        channel("rb-Xyz-1", "Stasis", "ringbridge,leg,Xyz"),  # owned
        channel("rb-Parked-1", "Park", "rb-acme.example"),  # a parked leg: not ours now
        channel("rb-Back-1", "Stasis", "ringbridge,parking-timeout,rb-a,1001,PJSIP/1001,c1",
                state="Up"),  # a parked leg ringing back its parker: a caller now
        channel("rb-Local-1;2"),  # the other half of a Local channel
        channel("1733.4", "Park", "rb-acme.example"),
        channel("1733.5", "Stasis", "ringbridge"),  # no arguments: not a channel we made
    ]
    orphans = find_orphans(channels, {"1733.3", "rb-Xyz-1"}, ours(channels))
    assert [(o.id, o.args, o.leg_of, o.state) for o in orphans] == [
        ("1733.1", ("dial", "6000"), "", "Ring"),
        ("1733.2", ("inbound", "+442079460958"), "", "Up"),
        ("rb-AbC123-2", None, "AbC123", "Ring"),
        ("rb-4172586-1", None, "4172586", "Ring"),
        ("rb-Back-1", ("parking-timeout", "rb-a", "1001", "PJSIP/1001", "c1"), "", "Up"),
    ]


def test_another_engines_channels_are_never_orphans() -> None:
    """Engine 2 restarting must not take up what engine 1 runs: only the channels ARI
    lists in engine 2's own application are looked at."""
    channels = [
        channel("1733.1", "StasisBroadcast", "1000,^ringbridge(-[0-9]+)?$,dial:6000"),
        channel("rb-AbC123-2", "Stasis", "ringbridge,leg,AbC123"),
        channel("1733.2", "StasisBroadcast", "1000,^ringbridge(-[0-9]+)?$,dial:6000"),
        channel("rb-Def-2", "Stasis", "ringbridge-2,leg,Def"),
    ]
    orphans = find_orphans(channels, (), {"1733.2", "rb-Def-2"})
    assert [orphan.id for orphan in orphans] == ["1733.2", "rb-Def-2"]


def ours(channels: list[dict[str, Any]]) -> set[str]:
    return {c["id"] for c in channels}


def test_callers_that_start_again_and_those_hung_up() -> None:
    def orphan(app_data: str, state: str = "Ring") -> bool:
        (found,) = find_orphans([channel("c", "Stasis", app_data, state)], (), {"c"})
        return found.starts_again

    assert orphan("ringbridge,dial,6000") and orphan("ringbridge,inbound,+14155550100")
    assert not orphan("ringbridge,dial,6000", "Up")  # voicemail, a prompt: answered
    assert orphan("ringbridge,parking-timeout,rb-a,1001,PJSIP/1001,c1", "Up")
    assert orphan("ringbridge,unparked", "Up")  # back to its lot (call_control)
    assert not orphan("ringbridge,park-failed,c1", "Up")


def test_legs_of_a_call_whose_caller_is_gone_are_told_apart() -> None:
    channels = [
        channel("rb-Gone-1", "Stasis", "ringbridge,leg,Gone"),
        channel("rb-Gone-2", "Stasis", "ringbridge,leg,Gone", state="Ringing"),
        channel("rb-Here-3", "Stasis", "ringbridge,leg,Here"),  # its caller was found
        channel("rb-Runs-1", "Stasis", "ringbridge,leg,Runs"),  # a flow runs its call
        channel("rb-4172586-1", "Stasis", "ringbridge,ringout,4172586"),
        channel("rb-leg-1", "Stasis", "ringbridge,leg"),  # names no call
    ]
    legs = find_orphans(channels, (), ours(channels))
    gone = left_ringing(legs, callers={"Here"}, running={"Runs"})
    assert {call: [leg.id for leg in its] for call, its in gone.items()} == {
        "Gone": ["rb-Gone-1", "rb-Gone-2"], "4172586": ["rb-4172586-1"]}
