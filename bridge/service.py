"""`ringbridge serve`: migrations, the engine thread, and the HTTP API under waitress."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from waitress.server import create_server

from bridge.api.app import create_app
from bridge.api.health import Readiness
from bridge.config import Settings
from bridge.services.call_records import DatabaseCallRecorder
from bridge.services.extensions import all_sip_endpoints
from bridge.services.ringout_records import apply_ringout_step
from bridge.services.routing import DatabaseDirectory
from bridge.store.db import database_ready
from bridge.store.migrate import upgrade
from bridge.store.session import Database
from bridge.telephony.call_log import CallLog
from bridge.telephony.endpoints import SipEndpoint
from bridge.telephony.engine import Engine
from bridge.telephony.runner import EngineThread

log = logging.getLogger(__name__)


def serve(settings: Settings) -> None:
    settings.require_secrets()
    database = Database(settings.database_url)
    upgrade(database)

    def extension_endpoints() -> list[SipEndpoint]:
        with database.session() as session:
            return all_sip_endpoints(session)

    directory = DatabaseDirectory(database, settings.dial_timeout)
    recorder = DatabaseCallRecorder(database, extra=[apply_ringout_step])
    engine_thread = EngineThread(Engine(settings, extension_endpoints, directory,
                                        CallLog(recorder)))

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
