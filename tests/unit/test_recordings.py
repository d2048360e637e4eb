"""Stored recordings read from ARI over real HTTP (a recording HTTP server stands in for
Asterisk), and the retention sweep's decisions (a fake ARI)."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest

from bridge.asterisk.ari import AriError
from bridge.engine.retention import RecordingRetention
from bridge.stored_recordings import RecordingUnavailable, StoredRecordings
from tests.support.dispatch_receiver import DispatchReceiver

WAV = b"RIFF" + bytes(range(256)) * 600  # spans several chunks


def test_a_recording_is_streamed_from_ari_with_its_credentials(
        receiver: DispatchReceiver) -> None:
    receiver.respond(200, body=WAV, headers={"Content-Type": "audio/wav"})
    files = StoredRecordings(receiver.url + "/ari", "ringbridge", "s3cret")
    found = files.open("call-A1")
    assert found is not None and found.size == len(WAV)
    assert b"".join(found.chunks) == WAV
    (request,) = receiver.requests
    assert (request.method, request.raw_path) == ("GET", "/ari/recordings/stored/call-A1/file")
    assert request.headers["authorization"] == "Basic " + base64.b64encode(
        b"ringbridge:s3cret").decode()
    files.close()


def test_a_recording_asterisk_does_not_have_is_none(receiver: DispatchReceiver) -> None:
    receiver.respond(404, body={"message": "Recording not found"})
    assert StoredRecordings(receiver.url, "u", "p").open("call-A1") is None


def test_a_name_is_one_path_segment(receiver: DispatchReceiver) -> None:
    receiver.respond(404)
    StoredRecordings(receiver.url, "u", "p").open("../../asterisk/info")
    assert receiver.requests[0].raw_path == "/recordings/stored/..%2F..%2Fasterisk%2Finfo/file"


def test_asterisk_failing_or_away_is_unavailable(receiver: DispatchReceiver) -> None:
    receiver.respond(500)
    with pytest.raises(RecordingUnavailable, match="answered 500"):
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
