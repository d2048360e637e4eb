"""`ringbridge dispatch-receiver`: a reference dispatch system for trying the flow out.

It prints each event as it arrives, checks signatures when given the secret (as a
dispatcher would, with the Standard Webhooks library: a GET's signature covers its query
string, a POST's its body), and can answer the first `ringing` of each call with
`307 Location: <agent or queue id>`.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import click
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


class Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, redirect_to: str | None, secret: str | None) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.redirect_to = redirect_to
        self.webhook = Webhook(secret) if secret else None
        self.redirected: set[str] = set()
        self.lock = threading.Lock()

    def answer_for(self, event: str, body: Any) -> tuple[int, dict[str, str]]:
        call_id = body.get("callId") if isinstance(body, dict) else None
        if event != "ringing" or not self.redirect_to or not call_id:
            return 200, {}
        with self.lock:
            if call_id in self.redirected:
                return 200, {}
            self.redirected.add(call_id)
        return 307, {"Location": self.redirect_to}


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        """The event lines below say it all."""

    def _handle(self) -> None:
        data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        event = self.path.split("?", 1)[0].rsplit("/", 1)[-1]
        body = _json(data)
        status, headers = self.server.answer_for(event, body)
        click.echo(f"{self.command} {self.path} -> {status} {headers.get('Location', '')}"
                   f"{self._signature(data)}")
        if body is not None:
            click.echo("  " + json.dumps(body, ensure_ascii=False))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _signature(self, data: bytes) -> str:
        if self.server.webhook is None:
            return ""
        signed = urlsplit(self.path).query if self.command == "GET" else data
        try:
            self.server.webhook.verify(signed, dict(self.headers), json_parse=False)
        except WebhookVerificationError as exc:
            return f" [signature BAD: {exc}]"
        return " [signature ok]"


def _json(data: bytes) -> Any:
    try:
        return json.loads(data) if data else None
    except ValueError:
        return data.decode(errors="replace")


def serve_receiver(port: int, redirect_to: str | None, secret: str | None) -> None:
    server = Receiver(port, redirect_to, secret)
    click.echo(f"dispatch receiver on http://127.0.0.1:{port} "
               f"(ringing → {'307 ' + redirect_to if redirect_to else '200'}); Ctrl-C stops")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
