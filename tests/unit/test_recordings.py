"""Stored recordings read from ARI over real HTTP (a recording HTTP server stands in for
Asterisk), and the retention sweep's decisions (a fake ARI)."""

from __future__ import annotations

import asyncio
import base64
import threading
from typing import Any

import pytest

from bridge import stored_recordings
from bridge.asterisk.ari import AriError
from bridge.engine.retention import RecordingRetention
from bridge.stored_recordings import RecordingInProgress, RecordingUnavailable, StoredRecordings
from tests.support.dispatch_receiver import DispatchReceiver

WAV = b"RIFF" + bytes(range(256)) * 600  # spans several chunks


@pytest.fixture(autouse=True)
def finished(receiver: DispatchReceiver) -> None:
    """Asterisk is writing no recording, unless a test says otherwise."""
    receiver.respond(404, body={"message": "Recording not found"}, match="/live/call-A1")


def test_a_recording_is_streamed_from_ari_with_its_credentials(
        receiver: DispatchReceiver) -> None:
    receiver.respond(200, body=WAV, headers={"Content-Type": "audio/wav"})
    files = StoredRecordings(receiver.url + "/ari", "ringbridge", "s3cret")
    found = files.open("call-A1")
    assert found is not None and found.size == len(WAV)
    assert b"".join(found.chunks) == WAV
    live, request = receiver.requests
    assert live.raw_path == "/ari/recordings/live/call-A1"
    assert (request.method, request.raw_path) == ("GET", "/ari/recordings/stored/call-A1/file")
    for asked in (live, request):
        assert asked.headers["authorization"] == "Basic " + base64.b64encode(
            b"ringbridge:s3cret").decode()
    files.close()


def test_a_recording_still_being_written_is_served_once_asterisk_has_closed_it(
        receiver: DispatchReceiver) -> None:
    """Until Asterisk closes the file its WAV header says there is no sound: the call's
    `cleared` comes a few milliseconds before its recording ends."""
    receiver.respond(200, body={"name": "call-A1", "state": "recording"},
                     match="/live/call-A1")
    receiver.respond(200, body=WAV, headers={"Content-Type": "audio/wav"})
    files = StoredRecordings(receiver.url, "u", "p")
    threading.Timer(0.3, lambda: receiver.respond(404, match="/live/call-A1")).start()
    found = files.open("call-A1")
    assert found is not None and b"".join(found.chunks) == WAV
    paths = [request.raw_path for request in receiver.requests]
    assert paths[-1] == "/recordings/stored/call-A1/file"
    assert len(paths) > 3 and set(paths[:-1]) == {"/recordings/live/call-A1"}


def test_a_recording_of_a_call_that_goes_on_is_in_progress(
        receiver: DispatchReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stored_recordings, "FINISH_WAIT", 0.2)
    receiver.respond(200, body={"name": "call-A1", "state": "recording"},
                     match="/live/call-A1")
    with pytest.raises(RecordingInProgress, match="call-A1 is still being recorded"):
        StoredRecordings(receiver.url, "u", "p").open("call-A1")
    assert not any(r.raw_path.startswith("/recordings/stored") for r in receiver.requests)


def test_a_recording_asterisk_does_not_have_is_none(receiver: DispatchReceiver) -> None:
    receiver.respond(404, body={"message": "Recording not found"})
    assert StoredRecordings(receiver.url, "u", "p").open("call-A1") is None


def test_a_name_is_one_path_segment(receiver: DispatchReceiver) -> None:
    receiver.respond(404)
    StoredRecordings(receiver.url, "u", "p").open("../../asterisk/info")
    assert [request.raw_path for request in receiver.requests] == [
        "/recordings/live/..%2F..%2Fasterisk%2Finfo",
        "/recordings/stored/..%2F..%2Fasterisk%2Finfo/file"]


def test_asterisk_failing_or_away_is_unavailable(receiver: DispatchReceiver) -> None:
    receiver.respond(500)
    with pytest.raises(RecordingUnavailable, match="answered 500"):
        StoredRecordings(receiver.url, "u", "p").open("call-A1")
    receiver.respond(503, match="/live/call-A1")  # it cannot say whether it still writes
    receiver.respond(200, body=WAV)
    with pytest.raises(RecordingUnavailable, match="answered 503 about the live recording"):
        StoredRecordings(receiver.url, "u", "p").open("call-A1")
    receiver.refuse()
    with pytest.raises(RecordingUnavailable, match="not reached"):
        StoredRecordings(receiver.url, "u", "p").open("call-A1")


class DeletingAri:
    """ARI's DELETE /recordings/stored/{name}: `answers` maps a name to a failure status."""

    def __init__(self, answers: dict[str, int]) -> None:
        self.answers = answers
        self.deleted: list[str] = []

    async def delete(self, path: str, params: Any = None) -> Any:
        name = path.rsplit("/", 1)[1]
        self.deleted.append(name)
        if name in self.answers:
            raise AriError(self.answers[name], "DELETE", path, "failed")
        return None


class MemoryIndex:
    def __init__(self, expired: list[tuple[str, str]]) -> None:
        self.expired_ones = expired
        self.forgotten: list[tuple[str, str]] = []

    def expired(self) -> list[tuple[str, str]]:
        return list(self.expired_ones)

    def forget(self, call_id: str, name: str) -> None:
        self.forgotten.append((call_id, name))


def test_the_sweep_deletes_expired_recordings_and_keeps_those_asterisk_refused() -> None:
    """Deleted (or already gone: 404) are forgotten; any other failure is tried again at
    the next sweep."""
    ari = DeletingAri({"call-B": 404, "call-C": 500})
    index = MemoryIndex([("A", "call-A"), ("B", "call-B"), ("C", "call-C")])
    retention = RecordingRetention(ari, index)  # type: ignore[arg-type]
    assert asyncio.run(retention.sweep()) == 2
    assert ari.deleted == ["call-A", "call-B", "call-C"]
    assert index.forgotten == [("A", "call-A"), ("B", "call-B")]
