"""Ring backs Asterisk made itself while ringbridge was down, read from a fake AMI (the
real dialplan and AstDB are in tests/integration/test_down_live.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from bridge.asterisk.ami import AmiError
from bridge.engine.comebacks import Comeback, Comebacks
from bridge.flows.earlier_calls import Closer, EarlierCall
from bridge.flows.events import CallEvent
from tests.unit.async_support import run
from tests.unit.call_logs import call_log_into


class Recorder:
    def __init__(self) -> None:
        self.steps: list[tuple[str, str, str, str]] = []

    def record(self, event: CallEvent) -> None:
        self.steps.append((event.call_id, event.kind, event.target, event.text))


class AstDb:
    """AMI's DBGetTree and DBDel over a dict; `missing` answers as an empty family does."""

    def __init__(self, entries: dict[str, str]) -> None:
        self.entries = entries
        self.handlers: dict[str, Any] = {}

    def on(self, name: str, handler: Any) -> None:
        self.handlers[name] = handler

    async def action(self, action: dict[str, str]) -> Any:
        await asyncio.sleep(0)  # an answer comes later: another engine may act meanwhile
        if action["Action"] == "DBDel":
            if self.entries.pop(action["Key"], None) is None:
                raise AmiError("DBDel", "Database entry not found")
            return {"Response": "Success"}
        if not self.entries:
            raise AmiError("DBGetTree", "Database entry not found")
        return [{"Response": "Success"},
                *({"Event": "DBGetTreeResponse", "Key": f"/rb-comeback/{key}", "Val": value}
                  for key, value in self.entries.items()),
                {"Event": "DBGetTreeComplete"}]


class OpenRecords:
    """Every call has a record, still open (a parked call's)."""

    def find(self, call_id: str, answered_by: str | None = None) -> EarlierCall | None:
        return EarlierCall(call_id, datetime(2026, 12, 4, tzinfo=UTC), None, ended=False)

    def open_before(self, moment: datetime) -> list[str]:
        return []

    def claim_end(self, call_id: str, at: datetime) -> bool:
        return True


def comebacks_over(entries: dict[str, str]) -> tuple[Comebacks, AstDb, Recorder]:
    astdb, recorder = AstDb(entries), Recorder()
    call_log = call_log_into(recorder.record)
    comebacks = Comebacks(astdb, call_log, Closer(OpenRecords(), call_log))  # type: ignore[arg-type]
    return comebacks, astdb, recorder


def test_each_entry_goes_into_its_calls_record_once_and_out_of_astdb() -> None:
    comebacks, astdb, recorder = comebacks_over({
        "c1.ended": "ANSWER|1764790000|2201|42", "c1.rang": "RINGING|1764790000|2201|0",
        "c2.ended": "NOANSWER|1764790100|2202|0"})

    async def scenario() -> None:
        await comebacks.record()
        await comebacks.record()

    run(scenario())
    assert astdb.entries == {}
    assert [(call, kind, target) for call, kind, target, _ in recorder.steps] == [
        ("c1", "comeback", "2201"), ("c1", "comeback", "2201"), ("c1", "ended", ""),
        ("c2", "comeback", "2202"), ("c2", "ended", "")]
    details = [detail for *_, detail in recorder.steps]
    assert "while ringbridge was down: Asterisk rang back 2201 without the bridge" in details[0]
    assert details[1].endswith("ended: answered, talked 42 s")
    assert details[2] == "the call ended with Asterisk's ring back of the parker"
    assert details[3].endswith("ended: not answered")


def test_two_engines_reading_the_entries_at_once_record_each_once() -> None:
    """Every engine hears the dialplan's UserEvent: the one that deletes an entry
    records it."""
    first, astdb, recorder = comebacks_over({"c5.ended": "NOANSWER|1764790100|2202|0"})
    second = Comebacks(astdb, first.call_log, first.closer)  # type: ignore[arg-type]

    async def both() -> None:
        await asyncio.gather(first.record(), second.record())

    run(both())
    assert [(call, kind) for call, kind, *_ in recorder.steps] == [
        ("c5", "comeback"), ("c5", "ended")]


def test_an_empty_family_records_nothing() -> None:
    comebacks, _, recorder = comebacks_over({})
    run(comebacks.record())
    assert recorder.steps == []


def test_the_dialplans_user_event_records_at_once() -> None:
    _, astdb, recorder = comebacks_over({"c3.rang": "RINGING|1764790000|2203|0"})
    run(astdb.handlers["UserEvent"]({"UserEvent": "RingbridgeComeback", "Call": "c3"}))
    assert [call for call, *_ in recorder.steps] == ["c3"]
    run(astdb.handlers["UserEvent"]({"UserEvent": "SomethingElse"}))
    assert len(recorder.steps) == 1


def test_entries_that_are_not_ring_backs_are_left_alone() -> None:
    for key, value in [("c4.rang", "RINGING|soon|2201|0"), ("c4", "ANSWER|1|2201|0"),
                       ("c4.ended", "ANSWER|1")]:
        assert Comeback.parse(key, value) is None
    comebacks, astdb, recorder = comebacks_over({"c4": "ANSWER|1|2201|0"})
    run(comebacks.record())
    assert (recorder.steps, astdb.entries) == ([], {"c4": "ANSWER|1|2201|0"})
