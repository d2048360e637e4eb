"""The panel's state from the engine's view of a tenant and its office (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bridge.gateway import LiveCall, PanelView, ParkedCall, Party, PartyState, Waiting
from bridge.panel.office import Agent, Group, Office, Today
from bridge.panel.state import Me, panel_state

NOW = datetime(2026, 12, 5, 6, 0, 0, 400000, tzinfo=UTC)
OFFICE = Office("ABC Taxis", (
    Agent(1, "1001", "Amy", 11, None, ""),
    Agent(2, "1002", "Bob", 12, NOW - timedelta(minutes=5), "lunch"),
    Agent(3, "1003", "", None, None, "")),
    (Group(9, "6001", "Sales", "RING_SIMULTANEOUSLY", ("1001", "1002"), ("+442079460001",)),),
    {9: Today(answered=4, missed=1, longest_wait=12.5)})
AMY = Me("amy", False, ("1001",))


def party(view: str, number: str, state: PartyState, *, caller: bool = False,
          external: bool = False, **more: object) -> Party:
    return Party(view, f"ch-{view}-{number}", number, "", external, caller, state,
                 **more)  # type: ignore[arg-type]


def parked_call(name: str = "Kim") -> LiveCall:
    """A carrier caller parked in slot 702 by 1001, its channel ch-p."""
    parked = ParkedCall("ch-p", "PJSIP/trunk-1", "default", "702", "+447700900123", name,
                        NOW, 90, "c1", "1001")
    return LiveCall("c1", "acme.example", NOW, NOW, True, "6001", (
        party("00", "+447700900123", PartyState.UP, caller=True, external=True,
              answered_at=NOW, parked=parked),))


def view(*calls: LiveCall, **more: object) -> PanelView:
    return PanelView(calls=calls, lines=more.get("lines", {}),  # type: ignore[arg-type]
                     registered=frozenset({"1001"}),
                     time_left=more.get("time_left", {}))  # type: ignore[arg-type]


def agents(state: dict[str, object]) -> dict[str, dict[str, object]]:
    return {a["number"]: a for a in state["agents"]}  # type: ignore[attr-defined]


def test_an_extension_calling_out_is_calling_and_the_one_it_rings_ringing() -> None:
    call = LiveCall("c1", "acme.example", NOW, None, False, "1003", (
        party("00", "1001", PartyState.OTHER_SIDE_RINGING, caller=True),
        party("01", "1003", PartyState.RINGING, ringing_at=NOW)))
    shown = agents(panel_state(OFFICE, view(call), AMY, NOW))
    assert (shown["1001"]["state"], shown["1001"]["peer"]) == ("calling", "1003")
    assert (shown["1003"]["state"], shown["1003"]["peer"]) == ("ringing", "1001")
    assert shown["1003"]["group"] == ""  # a direct call, no group


def test_a_call_to_a_groups_did_is_shown_under_the_group() -> None:
    call = LiveCall("c1", "acme.example", NOW, None, True, "+442079460001", (
        party("00", "+447700900123", PartyState.OTHER_SIDE_RINGING, caller=True,
              external=True),
        party("01", "1001", PartyState.RINGING, ringing_at=NOW)))
    state = panel_state(OFFICE, view(call), AMY, NOW)
    assert agents(state)["1001"]["group"] == "6001 Sales"
    assert state["calls"][0]["group"] == "6001 Sales"


def test_talking_is_shown_before_ringing_for_an_agent_in_two_calls() -> None:
    talking = LiveCall("c1", "acme.example", NOW, NOW, True, "6001", (
        party("00", "+447700900123", PartyState.UP, caller=True, external=True,
              answered_at=NOW),
        party("01", "1001", PartyState.UP, answered_at=NOW)))
    ringing = LiveCall("c2", "acme.example", NOW, None, True, "6001", (
        party("00", "+447700900999", PartyState.OTHER_SIDE_RINGING, caller=True,
              external=True),
        party("01", "1001", PartyState.RINGING, ringing_at=NOW)))
    for calls in ((talking, ringing), (ringing, talking)):
        shown = agents(panel_state(OFFICE, view(*calls), AMY, NOW))["1001"]
        assert (shown["state"], shown["peer"], shown["call_id"]) == (
            "talking", "+447700900123", "c1")


def test_a_parker_is_shown_with_its_parked_call_and_the_slot_counts_down() -> None:
    call = parked_call()
    state = panel_state(OFFICE, view(call, time_left={"ch-p": 41.7}), AMY, NOW)
    assert (agents(state)["1001"]["state"], agents(state)["1001"]["peer"]) == (
        "parked", "+447700900123")
    [slot] = state["parked"]
    assert slot["rings_back_at"] == "2026-12-05T06:00:42.000Z"  # whole seconds: steady
    assert (slot["slot"], slot["caller_name"], slot["parked_by"]) == ("702", "Kim", "1001")
    assert state["calls"][0]["mine"] is True


def test_groups_show_members_the_waiting_line_and_todays_counts() -> None:
    call = LiveCall("c1", "acme.example", NOW, None, True, "6001", (
        party("00", "+447700900123", PartyState.OTHER_SIDE_RINGING, caller=True,
              external=True),))
    since = NOW - timedelta(seconds=30)
    state = panel_state(OFFICE, view(call, lines={9: (Waiting("c1", "high", since),)}),
                        AMY, NOW)
    [group] = state["groups"]
    assert group["members"] == [{"number": "1001", "name": "Amy"},
                                {"number": "1002", "name": "Bob"}]
    assert group["waiting"] == [{"call_id": "c1", "caller": "+447700900123",
                                 "priority": "high", "since": "2026-12-05T05:59:30.400Z"}]
    assert (group["answered_today"], group["missed_today"], group["longest_wait"]) == (
        4, 1, 12.5)
    assert state["calls"][0]["state"] == "waiting"


def test_agents_show_pauses_registration_and_whose_they_are() -> None:
    shown = agents(panel_state(OFFICE, view(), AMY, NOW))
    assert (shown["1002"]["paused"], shown["1002"]["pause_reason"]) == (True, "lunch")
    assert (shown["1001"]["registered"], shown["1002"]["registered"]) == (True, False)
    assert [n for n, a in shown.items() if a["mine"]] == ["1001"]
    assert {a["state"] for a in shown.values()} == {"idle"}


def test_a_parked_calls_ring_back_time_is_the_same_from_read_to_read() -> None:
    call = parked_call(name="")
    shown = set()
    for step in range(0, 1000, 50):  # reads over a second, the time left going down
        later = NOW + timedelta(milliseconds=step)
        state = panel_state(OFFICE, view(call, time_left={"ch-p": 41.7 - step / 1000}),
                            AMY, later)
        shown.add(state["parked"][0]["rings_back_at"])
    assert shown == {"2026-12-05T06:00:42.000Z"}


def test_an_agent_talks_since_it_answered_not_since_the_call_first_was() -> None:
    first_answer = NOW - timedelta(minutes=6)
    call = LiveCall("c1", "acme.example", first_answer, first_answer, True, "6001", (
        party("00", "+447700900123", PartyState.UP, caller=True, external=True,
              answered_at=first_answer),
        party("02", "1002", PartyState.UP, answered_at=NOW)))  # took the call back now
    shown = agents(panel_state(OFFICE, view(call), AMY, NOW))
    assert shown["1002"]["since"] == "2026-12-05T06:00:00.400Z"
