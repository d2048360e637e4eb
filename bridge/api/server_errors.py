"""Answers waitress gives itself, before the app sees the request, in the error body of
the surface the request line names (bridge/api/errors.py), not waitress's text/plain.

waitress refuses headers over its limit (431), a body over its limit (413), a request
it cannot parse (400) and a transfer coding it does not know (501) on its own. It reads
no path from a request whose headers are too large, so the parser here keeps the
request line's target as the bytes arrive.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar
from urllib.parse import urlsplit

from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import BaseWSGIServer
from waitress.task import ErrorTask

from bridge.api.errors import ErrorFormat, formatter_for

REQUEST_LINE_LIMIT = 8192  # bytes kept to find the request line's target


class TargetKeepingParser(HTTPRequestParser):
    target = ""
    _start = b""

    def received(self, data: bytes) -> int:
        if not self.target and len(self._start) < REQUEST_LINE_LIMIT:
            self._start = (self._start + data)[:REQUEST_LINE_LIMIT]
            line, ended, _ = self._start.lstrip(b"\r\n").partition(b"\n")
            parts = line.split()
            if (ended or len(self._start) == REQUEST_LINE_LIMIT) and len(parts) >= 2:
                self.target = parts[1].decode("latin-1")
        return int(super().received(data))


class SurfaceErrorTask(ErrorTask):
    formats: ClassVar[tuple[ErrorFormat, ...]] = ()  # the app's (answer_in_surface_format)

    def execute(self) -> None:
        error = self.request.error
        path = urlsplit(getattr(self.request, "target", "") or "/").path
        message = f"{error.reason}: {error.body}"
        formatter = formatter_for(path, self.formats)
        body = json.dumps(formatter(error.code, "", message, None)).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class SurfaceChannel(HTTPChannel):
    parser_class = TargetKeepingParser
    error_task_class = SurfaceErrorTask


def answer_in_surface_format(server: Any, formats: list[ErrorFormat]) -> None:
    """Make `server` (what waitress.create_server returned: one listening socket, or
    several) answer its own errors in the bodies of the app's surfaces (`formats`)."""
    task = type("AppErrorTask", (SurfaceErrorTask,), {"formats": tuple(formats)})
    channel = type("AppChannel", (SurfaceChannel,), {"error_task_class": task})
    for dispatcher in [server, *getattr(server, "map", {}).values()]:
        if isinstance(dispatcher, BaseWSGIServer):
            dispatcher.channel_class = channel
