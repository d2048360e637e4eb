"""`ringbridge serve`: the engine thread plus the HTTP API under waitress."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from waitress.server import create_server

from bridge.api.app import create_app
from bridge.api.health import Readiness
from bridge.config import Settings
from bridge.store.db import database_ready, make_engine
from bridge.telephony.engine import Engine
from bridge.telephony.runner import EngineThread

log = logging.getLogger(__name__)


def serve(settings: Settings) -> None:
    settings.require_secrets()
    database = make_engine(settings.database_url)
    engine_thread = EngineThread(Engine(settings))

    def readiness() -> Readiness:
        status = engine_thread.status()
        return Readiness(ari=status.ari, ami=status.ami, database=database_ready(database))

    app = create_app(readiness)
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
        database.dispose()
        log.info("stopped")
