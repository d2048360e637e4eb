"""`ringbridge serve`: migrations, the engine thread, and the HTTP API under waitress."""

from __future__ import annotations

import logging
import sys
import threading

from waitress.server import create_server

from bridge.api.app import create_app
from bridge.api.errors import error_formats
from bridge.api.health import Readiness
from bridge.api.server_errors import answer_in_surface_format
from bridge.config import Settings
from bridge.dispatch.client import DispatchClient
from bridge.engine.engine import Engine
from bridge.engine.runner import EngineThread
from bridge.flows.call_log import CallLog
from bridge.gateway import SipEndpoint
from bridge.services.call_records import DatabaseCallRecorder
from bridge.services.dispatch import DatabaseDeliveryStore
from bridge.services.earlier_calls import DatabaseEarlierCalls
from bridge.services.extensions import all_sip_endpoints
from bridge.services.recordings import DatabaseRecordingIndex
from bridge.services.ringout_records import subscribe_ringout_statuses
from bridge.services.routing import DatabaseDirectory, subscribe_hunt_memory
from bridge.stopping import Stopper
from bridge.store.db import database_ready
from bridge.store.migrate import upgrade
from bridge.store.session import Database

log = logging.getLogger(__name__)


# The engine's loop shares the interpreter with the API's worker threads. A thread
# waking on a socket waits for the GIL up to this long while API threads compute;
# Python's default (5 ms) would put that wait on every step of a call's hot path.
SWITCH_INTERVAL = 0.0005


def serve(settings: Settings) -> None:
    settings.require_secrets()
    sys.setswitchinterval(SWITCH_INTERVAL)
    database = Database(settings.database_url)
    upgrade(database)

    def extension_endpoints() -> list[SipEndpoint]:
        with database.session() as session:
            return all_sip_endpoints(session)

    dispatch = DispatchClient(DatabaseDeliveryStore(database))
    directory = DatabaseDirectory(database, settings.dial_timeout, dispatch, settings.api_url)
    call_log, recorder = CallLog(), DatabaseCallRecorder(database)
    recorder.follow(call_log)
    subscribe_ringout_statuses(recorder)
    subscribe_hunt_memory(recorder)
    engine_thread = EngineThread(Engine(settings, extension_endpoints, directory,
                                        call_log, dispatch,
                                        DatabaseRecordingIndex(database),
                                        DatabaseEarlierCalls(database, directory)))

    stopping = threading.Event()  # set on SIGTERM/SIGINT (bridge/stopping.py)

    def readiness() -> Readiness:
        status = engine_thread.status()
        return Readiness(ari=status.ari, ami=status.ami,
                         database=database_ready(database.engine),
                         stopping=stopping.is_set())

    app = create_app(database, engine_thread, readiness, settings, stopping=stopping.is_set)
    server = create_server(app, host=settings.http_host, port=settings.http_port,
                           threads=settings.http_threads, ident="ringbridge")
    answer_in_surface_format(server, error_formats(app))
    stopper = Stopper(server, engine_thread.stop, stopping)
    stopper.install()
    engine_thread.start()
    log.info("API on http://%s:%d (ARI %s, app %s)", settings.http_host, settings.http_port,
             settings.ari_url, settings.ari_app)
    try:
        server.run()
    finally:
        engine_thread.stop()
        recorder.close()
        database.dispose()
        log.info("stopped")
        stopper.exited.set()
