"""`ringbridge serve`: migrations, the engine thread, and the HTTP API under waitress."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from datetime import datetime
from types import FrameType

from waitress.server import create_server

from bridge.api.app import create_app
from bridge.api.health import Readiness
from bridge.config import Settings
from bridge.dispatch.client import DispatchClient
from bridge.services.call_records import DatabaseCallRecorder
from bridge.services.dispatch import DatabaseDeliveryStore
from bridge.services.extensions import all_sip_endpoints
from bridge.services.ringout_records import apply_ringout_step, open_ringouts
from bridge.services.routing import DatabaseDirectory, apply_hunt_memory
from bridge.store.db import database_ready
from bridge.store.migrate import upgrade
from bridge.store.session import Database
from bridge.telephony.call_log import CallLog
from bridge.telephony.endpoints import SipEndpoint
from bridge.telephony.engine import Engine
from bridge.telephony.runner import EngineThread

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

    def ringouts_not_ended(before: datetime) -> list[str]:
        with database.session() as session:
            return open_ringouts(session, before)

    dispatch = DispatchClient(DatabaseDeliveryStore(database))
    directory = DatabaseDirectory(database, settings.dial_timeout, dispatch, settings.api_url)
    recorder = DatabaseCallRecorder(database, extra=[apply_ringout_step, apply_hunt_memory])
    engine_thread = EngineThread(Engine(settings, extension_endpoints, directory,
                                        CallLog(recorder), dispatch, ringouts_not_ended))

    def readiness() -> Readiness:
        status = engine_thread.status()
        return Readiness(ari=status.ari, ami=status.ami,
                         database=database_ready(database.engine))

    app = create_app(database, engine_thread, readiness, settings)
    server = create_server(app, host=settings.http_host, port=settings.http_port,
                           threads=settings.http_threads, ident="ringbridge")
    stopping = threading.Event()

    def stop(signum: int, _frame: FrameType | None) -> None:
        if not stopping.is_set():
            stopping.set()
            log.info("signal %s: stopping", signal.Signals(signum).name)
            server.close()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    engine_thread.start()
    log.info("API on http://%s:%d (ARI %s, app %s)", settings.http_host, settings.http_port,
             settings.ari_url, settings.ari_app)
    try:
        server.run()
    except OSError:
        if not stopping.is_set():
            raise
    finally:
        engine_thread.stop()
        recorder.close()
        database.dispose()
        log.info("stopped")
