"""The engine's process: call flows on Asterisk, and the gateway link the API calls."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from functools import partial
from types import FrameType

from bridge.config import ENGINE_ADDRESS, Settings
from bridge.dispatch.client import DispatchClient
from bridge.engine.engine import Engine
from bridge.engine.gateway_server import GatewayServer
from bridge.engine.lease import EngineLease, engine_label, lease_name
from bridge.engine.runner import EngineThread
from bridge.engine.session_notifier import SessionNotifier
from bridge.engine.standby import StandbyGateway
from bridge.flows.call_log import CallLog
from bridge.gateway import EngineGateway, SipEndpoint
from bridge.gateway_client import GatewayClient
from bridge.gateway_link import GatewayLink
from bridge.services import subscriptions
from bridge.services.call_records import DatabaseCallRecorder
from bridge.services.dispatch import DatabaseDeliveryStore
from bridge.services.earlier_calls import DatabaseEarlierCalls
from bridge.services.extensions import all_sip_endpoints
from bridge.services.recordings import DatabaseRecordingIndex
from bridge.services.ringout_records import subscribe_ringout_statuses
from bridge.services.routing import DatabaseDirectory, subscribe_hunt_memory
from bridge.services.step_journal import StepJournal
from bridge.services.subscriptions import ActiveSubscription
from bridge.services.waiting_calls import DatabaseWaitingCalls
from bridge.stopping import ENGINE_STOP_TIMEOUT, accept_signals
from bridge.store.directory_changes import current_generation
from bridge.store.session import Database

log = logging.getLogger(__name__)

# The engine's loop shares the interpreter with the gateway's and the record writer's
# threads. A thread waking on a socket waits for the GIL up to this long while another
# computes; Python's default (5 ms) would put that wait on every step of a call.
SWITCH_INTERVAL = 0.0005
CLUSTER_LINES = "cluster"  # the waiting lines of a cluster's engines: one per group


def run_engine(settings: Settings, number: int, link: GatewayLink, slot: int = 0,
               standby: bool = False) -> None:
    """Engine `number` (1-based), until SIGTERM or SIGINT: then the calls are left to
    the next engine (see bridge/stopping.py, step 2) and the call records written.
    Exits with 1 if the engine's loop ends by itself, for the supervisor to start a new
    process. A cluster node's engine runs only while it holds its lease (`standby`: one
    for another node's Asterisk), answering the API as standing by until then; the other
    nodes reach it at `settings.engine_address(slot)`."""
    app = settings.engine_app(number)
    sys.setswitchinterval(SWITCH_INTERVAL)
    stopping = threading.Event()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    accept_signals()
    lease = _lease(settings, app, slot, standby)
    if lease is None:
        _run_alone(settings, number, link, stopping)
    else:
        _run_leased(settings, number, link, lease, stopping, slot)


def _run_alone(settings: Settings, number: int, link: GatewayLink,
               stopping: threading.Event) -> None:
    server: GatewayServer | None = None

    def serve(engine: EngineGateway) -> None:
        nonlocal server
        server = _started(GatewayServer(engine, link))

    def unserve() -> None:
        if server is not None:
            server.close()

    _run(settings, number, stopping, serve, unserve)


def _run_leased(settings: Settings, number: int, link: GatewayLink, lease: EngineLease,
                stopping: threading.Event, slot: int) -> None:
    """Standing by until the lease is ours, then running; a standby gives the lease
    back when its own node wants it (bridge/engine/lease.py) and stands by again.
    Standing by, it passes what this node's API asks of the app's calls on to the engine
    running the app; the other nodes' engines reach it at its cluster address."""
    waiting = StandbyGateway(lease.name, _running_engine(lease, settings))
    for_peers = StandbyGateway(lease.name)  # a call another node passed on: not again
    servers = [(_started(GatewayServer(waiting, link)), waiting)]
    peers_link = GatewayLink(settings.engine_address(slot), settings.cluster_key.encode())
    try:
        servers.append((_started(GatewayServer(for_peers, peers_link)), for_peers))
    except OSError as exc:  # the node's own calls come first: run without it
        log.error("engine %d: the other nodes cannot reach it at %s (%s): their API "
                  "will not see its calls; check cluster_address and cluster_port", number,
                  peers_link.address, exc)
    log.info("engine %d %s %s (ARI %s)", number, "stands by for" if lease.standby else
             "takes its lease on", lease.name, settings.ari_url)

    def serve(engine: EngineGateway) -> None:
        for server, _ in servers:
            server.engine = engine
        waiting.taken_over.set()

    def unserve() -> None:
        for server, standby in servers:
            server.engine = standby
        waiting.taken_over.clear()

    try:
        while lease.take(stopping):
            log.info("engine %d holds the lease on %s: running it", number, lease.name)
            _run(settings, number, stopping, serve, unserve, lease.wanted_back,
                 lease.successor_waiting)
            if stopping.is_set():
                break
            lease.give_back()
            log.info("engine %d gave %s back to its own node; standing by", number,
                     lease.name)
    finally:
        lease.release()
        for server, _ in servers:
            server.close()


def _running_engine(lease: EngineLease, settings: Settings
                    ) -> Callable[[], EngineGateway | None]:
    """The engine of another node that holds `lease` (the holder it names), if any."""
    return lambda: _peer(holder, settings) if (holder := lease.holder) else None


def _peer(address: str, settings: Settings) -> EngineGateway | None:
    """The engine another cluster node runs at `address` (host:port), reached with the
    cluster's key; None for an address that is not one."""
    if not ENGINE_ADDRESS.fullmatch(address):
        return None
    if address not in _PEERS:
        _PEERS[address] = GatewayClient(GatewayLink(address, settings.cluster_key.encode()))
    return _PEERS[address]


def _still_running(settings: Settings) -> Callable[[str], bool]:
    """Whether the engine at a holder's address still runs its app (ARI or AMI up)."""
    def running(address: str) -> bool:
        peer = _peer(address, settings)
        if peer is None:
            return False
        status = peer.status()
        return status.ari or status.ami

    return running


_PEERS: dict[str, GatewayClient] = {}  # the other nodes' engines, by address


def _run(settings: Settings, number: int, stopping: threading.Event,
         serve: Callable[[EngineGateway], None], unserve: Callable[[], None],
         leave: threading.Event | None = None,
         successor_waiting: Callable[[], bool] | None = None) -> None:
    """The engine and its database, the API served by `serve(engine)`, until `stopping`
    (or `leave`) is set, or the loop ends by itself (exit 1); `unserve()` comes first in
    the stop, so the API sees the engine gone before it stops."""
    app = settings.engine_app(number)
    database = Database(settings.database_url)
    recorder = DatabaseCallRecorder(database, journal=_journal(settings))
    engine = EngineThread(_engine(settings, app, database, recorder, successor_waiting))
    engine.start()
    serve(engine)
    log.info("engine %d up (ARI %s, app %s)", number, settings.ari_url, app)
    try:
        while not stopping.wait(1.0) and not (leave is not None and leave.is_set()):
            if not engine.alive:  # its loop ended on an error (logged): start afresh
                log.error("the engine's loop ended; exiting to be started again")
                sys.exit(1)
    finally:
        unserve()
        engine.stop(ENGINE_STOP_TIMEOUT)
        if leave is not None and leave.is_set() and engine.alive:
            _exit_at_once("the engine did not stop in time to give its lease back: its "
                          "process goes, so that it never acts beside the next engine")
        recorder.close()
        database.dispose()
        log.info("engine stopped")


def _journal(settings: Settings) -> StepJournal | None:
    """Where call record steps wait until written; none (logged) when its directory
    cannot be used: the calls matter more than their records."""
    try:
        return StepJournal(settings.journal_directory, settings.database_url)
    except OSError as exc:
        log.error("call record steps are not kept on disk (journal_dir %s: %s): a crash "
                  "loses those not written yet", settings.journal_directory, exc)
        return None


def _started(server: GatewayServer) -> GatewayServer:
    server.start()
    return server


def _lease(settings: Settings, app: str, slot: int, standby: bool) -> EngineLease | None:
    """A cluster node's engine (standby_asterisks set: PostgreSQL, a cluster address and
    key, checked in bridge/config.py) runs under a lease; any other, freely. The lease's
    holder names where the other nodes reach its engine."""
    if not settings.standby_hosts:
        return None
    return EngineLease(settings.database_url, lease_name(settings.ari_url, app),
                       settings.engine_address(slot), standby=standby, on_lost=_lost,
                       still_running=_still_running(settings))


def _lost() -> None:
    _exit_at_once("another node took this engine's lease: acting on its calls any more, "
                  "or closing them to the edge on the way out, would undo its work")


def _exit_at_once(why: str) -> None:
    """Gone now, with no clean stop: the supervisor starts the process again."""
    log.error("exiting at once: %s", why)
    logging.shutdown()
    os._exit(1)


def live_subscriptions(database: Database) -> list[ActiveSubscription]:
    with database.session() as session:
        return subscriptions.active(session)


def _engine(settings: Settings, app: str, database: Database,
            recorder: DatabaseCallRecorder,
            successor_waiting: Callable[[], bool] | None = None) -> Engine:
    def extension_endpoints() -> list[SipEndpoint]:
        with database.session() as session:
            return all_sip_endpoints(session)

    dispatch = DispatchClient(DatabaseDeliveryStore(database))
    directory = DatabaseDirectory(database, settings.dial_timeout, dispatch, settings.api_url)
    call_log = CallLog()
    recorder.follow(call_log)
    SessionNotifier(dispatch, partial(live_subscriptions, database)).follow(call_log)
    subscribe_ringout_statuses(recorder)
    subscribe_hunt_memory(recorder)
    first = app == settings.engine_app(1)
    # One engine deletes the recordings past their retention (every engine would try).
    recordings = DatabaseRecordingIndex(database) if first else None
    return Engine(settings, extension_endpoints, directory, call_log, dispatch,
                  recordings, DatabaseEarlierCalls(database, directory, recorder.replayed),
                  app=app,
                  shared_lines=shared_lines(settings, app, database),
                  directory_generation=(partial(_directory_generation, database)
                                        if first and settings.sip_edge else None),
                  successor_waiting=successor_waiting)


def _directory_generation(database: Database) -> int | None:
    with database.engine.connect() as connection:
        return current_generation(connection)


def shared_lines(settings: Settings, app: str, database: Database
                  ) -> DatabaseWaitingCalls | None:
    """With several engines, the waiting lines' order is theirs together: of the
    engines on this Asterisk, or of every engine on every Asterisk node of a cluster (one
    line per group for the whole cluster). The rows this engine's process before left
    are gone with their calls (taken up as new ones)."""
    apps = [settings.engine_app(number) for number in range(1, settings.engines + 1)]
    if settings.standby_hosts:
        engines = [engine_label(lease_name(url, each)) for url in
                   (settings.ari_url, *settings.other_ari_urls) for each in apps]
        lines = DatabaseWaitingCalls(database, CLUSTER_LINES,
                                     engine_label(lease_name(settings.ari_url, app)), engines)
    elif settings.engines > 1:
        lines = DatabaseWaitingCalls(database, settings.ari_url, app, apps)
    else:
        return None
    lines.clear()
    return lines
