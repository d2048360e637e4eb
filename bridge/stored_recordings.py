"""Asterisk's stored recordings (recorded calls, voicemails), read for the API's threads.

The API streams a recording's file from ARI (`GET /recordings/stored/{name}/file`)
without going through the engine's loop: a file can be megabytes and the loop carries
every call's events. Blocking: call from a worker thread.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import httpx

CHUNK = 64 * 1024
TIMEOUT = 10.0
FINISH_WAIT = 3.0  # seconds a fetch waits for Asterisk to finish writing the file
FINISH_POLL = 0.05


class RecordingUnavailable(Exception):
    """Asterisk could not be asked, or answered something else than the file or 404."""


class RecordingInProgress(Exception):
    """Asterisk is still writing the recording: its call goes on."""


@dataclass(frozen=True)
class RecordingFile:
    chunks: Iterator[bytes]  # closes the connection to Asterisk when exhausted or closed
    size: int | None


class StoredRecordings:
    def __init__(self, ari_url: str, username: str, password: str) -> None:
        self._http = httpx.Client(base_url=ari_url.rstrip("/"), auth=(username, password),
                                  timeout=TIMEOUT)

    def open(self, name: str) -> RecordingFile | None:
        """The file of stored recording `name`, or None when Asterisk has none; once
        Asterisk has finished writing it (RecordingInProgress after FINISH_WAIT)."""
        self._wait_finished(name)
        path = f"/recordings/stored/{quote(name, safe='')}/file"
        try:
            response = self._http.send(self._http.build_request("GET", path), stream=True)
        except httpx.HTTPError as exc:
            raise RecordingUnavailable(f"Asterisk not reached: {exc}") from exc
        if response.status_code == 404:
            response.close()
            return None
        if response.status_code != 200:
            response.close()
            raise RecordingUnavailable(f"Asterisk answered {response.status_code}")
        size = response.headers.get("content-length")
        return RecordingFile(_chunks(response), int(size) if size and size.isdigit() else None)

    def close(self) -> None:
        self._http.close()

    def _wait_finished(self, name: str) -> None:
        """Wait while `name` is a live recording. Asterisk writes a WAV's sizes into its
        header only as it closes the file, so one read before says it holds no sound;
        and the dispatcher fetches a call's recording on `cleared`, which is sent a few
        milliseconds before the call's bridge, and its recording with it, goes."""
        deadline = time.monotonic() + FINISH_WAIT
        while self._live(name):
            if time.monotonic() > deadline:
                raise RecordingInProgress(f"{name} is still being recorded")
            time.sleep(FINISH_POLL)

    def _live(self, name: str) -> bool:
        try:
            response = self._http.get(f"/recordings/live/{quote(name, safe='')}")
        except httpx.HTTPError as exc:
            raise RecordingUnavailable(f"Asterisk not reached: {exc}") from exc
        if response.status_code not in (200, 404):
            raise RecordingUnavailable(
                f"Asterisk answered {response.status_code} about the live recording")
        return response.status_code == 200


def _chunks(response: httpx.Response) -> Iterator[bytes]:
    try:
        yield from response.iter_bytes(CHUNK)
    finally:
        response.close()
