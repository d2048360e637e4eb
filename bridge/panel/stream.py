"""A panel's server-sent events: its whole state again each time something it shows
changes.

A stream wakes when the engine reports a change (bridge/panel/feed.py) and at least
once a second, when it reads the database again (pauses, groups, today's counts, and
whether the session still stands); at once after a panel action in this process. It
sends a `state` event only when the state differs from the last one sent, a comment
every KEEPALIVE seconds otherwise (so proxies keep the connection), `unavailable`
while the engine cannot be read, and `signed-out` (then ends) once the session is over.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from bridge.gateway import GatewayError
from bridge.panel.feed import LiveFeed

log = logging.getLogger(__name__)
UNAVAILABLE = "live data is unavailable: the telephony engine is not answering (restarting?)"
OFFICE_SECONDS = 1.0
# Changes come in bursts (a call's few events), and from every tenant: a stream reads
# the engine at most once in this many seconds, so a busy engine is read at most 20
# times a second per open panel.
LEAST_GAP = 0.05
KEEPALIVE = 5.0  # also how soon a stream whose browser left finds out
RECONNECT_MS = 2000  # the browser's wait before it opens the stream again

# Reads the state; `office` asks for the database part to be read again. None: the
# session is over.
ReadState = Callable[[bool], dict[str, Any] | None]


def state_events(read: ReadState, feed: LiveFeed,
                 stopping: Callable[[], bool]) -> Iterator[str]:
    """Until the session ends, the process stops or the browser goes (waitress then
    closes the generator)."""
    yield f"retry: {RECONNECT_MS}\n\n"
    version, office_at, quiet_since = feed.version(), 0.0, time.monotonic()
    sent: tuple[str, dict[str, Any]] | None = None
    office_seen = feed.office_version
    while not stopping():
        read_at = time.monotonic()
        office_now = feed.office_version  # before the read: a touch during it counts
        office = time.monotonic() - office_at >= OFFICE_SECONDS or office_now != office_seen
        event, shown = _read(read, office)
        if office:
            office_at, office_seen = time.monotonic(), office_now
        if event == "signed-out":
            yield SIGNED_OUT
            return
        compared = (event, {key: value for key, value in shown.items() if key != "now"})
        if compared != sent:  # `now` changes every read: compared without it
            yield _event(event, shown)
            sent, quiet_since = compared, time.monotonic()
        elif time.monotonic() - quiet_since >= KEEPALIVE:
            yield ": keepalive\n\n"
            quiet_since = time.monotonic()
        version = feed.wait(version, OFFICE_SECONDS)
        time.sleep(max(0.0, read_at + LEAST_GAP - time.monotonic()))


def _read(read: ReadState, office: bool) -> tuple[str, dict[str, Any]]:
    try:
        state = read(office)
    except GatewayError as exc:  # its message may name internals: not for the page
        log.debug("panel stream: the engine was not read: %s", exc.message)
        return "unavailable", {"message": UNAVAILABLE}
    if state is None:
        return "signed-out", {}
    return "state", state


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


SIGNED_OUT = _event("signed-out", {})
