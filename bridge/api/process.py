"""An API process: the HTTP API under waitress, on the socket `ringbridge serve` bound.

Several of these may serve the one socket (the kernel hands each new connection to
one of them); each reaches the engines through their gateway links.
"""

from __future__ import annotations

import logging
import socket
import threading

from waitress.server import create_server

from bridge.api.app import create_app
from bridge.api.engines_client import EnginesClient
from bridge.api.errors import error_formats
from bridge.api.health import Readiness
from bridge.api.server_errors import answer_in_surface_format
from bridge.config import Settings
from bridge.gateway_link import GatewayLinks
from bridge.stopping import Stopper
from bridge.store.db import database_ready
from bridge.store.session import Database

log = logging.getLogger(__name__)


def run_api(settings: Settings, listening: socket.socket, links: GatewayLinks) -> None:
    """Until SIGTERM or SIGINT (bridge/stopping.py)."""
    database = Database(settings.database_url)
    gateway = EnginesClient.over(links)
    stopping = threading.Event()

    def readiness() -> Readiness:
        status = gateway.status()
        return Readiness(ari=status.ari, ami=status.ami,
                         database=database_ready(database.engine),
                         stopping=stopping.is_set())

    app = create_app(database, gateway, readiness, settings, stopping=stopping.is_set)
    server = create_server(app, sockets=[listening], threads=settings.http_threads,
                           ident="ringbridge")
    answer_in_surface_format(server, error_formats(app))
    stopper = Stopper(server, stopping)
    stopper.install()
    try:
        server.run()
    finally:
        gateway.close()
        database.dispose()
        stopper.exited.set()
