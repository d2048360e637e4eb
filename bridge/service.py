"""`ringbridge serve`: migrations, then the engines' processes and the API's processes.

Import it only once the metrics directory is set (bridge/metrics_dir.py): it imports
prometheus_client.

Each of the `engines` engines runs alone in its process, so API load takes no turn from
a live call's events; `api_workers` API processes share one listening socket and reach
the engines through the gateway links (bridge/gateway_link.py). docs/processes.md tells
the whole.
"""

from __future__ import annotations

import logging
import socket
import sys

from bridge import metrics
from bridge.api.process import run_api
from bridge.config import Settings
from bridge.engine.process import run_engine
from bridge.gateway_link import GatewayLinks
from bridge.store.migrate import upgrade
from bridge.store.session import Database
from bridge.supervisor import Child, Supervisor

log = logging.getLogger(__name__)


def serve(settings: Settings) -> None:
    settings.require_secrets()
    database = Database(settings.database_url)
    try:
        upgrade(database)
    finally:
        database.dispose()  # nothing of it crosses the fork
    listening = _listen(settings)
    standbys = [settings.for_asterisk(host) for host in settings.standby_hosts]
    links = GatewayLinks.create(settings.engines * (1 + len(standbys)))
    links.publish(settings.published_link)
    engine_links = iter(links.links)
    # Signalled in this order: the API processes refuse new work before the engines
    # hand their calls over (bridge/stopping.py).
    children = [*(Child(f"api-{number}", run_api, (settings, listening, links))
                  for number in range(1, settings.api_workers + 1)),
                *(Child(f"engine-{number}", run_engine,
                        (settings, number, next(engine_links), number - 1),
                        closes=(listening,))
                  for number in range(1, settings.engines + 1)),
                *(Child(f"standby-{index}-{number}", run_engine,
                        (other, number, next(engine_links),
                         index * settings.engines + number - 1, True), closes=(listening,))
                  for index, other in enumerate(standbys, start=1)
                  for number in range(1, settings.engines + 1))]
    log.info("API on http://%s:%d (%d API processes, %d engines; ARI %s, apps %s%s)",
             settings.http_host, settings.http_port, settings.api_workers, settings.engines,
             settings.ari_url, ", ".join(settings.engine_app(number)
                                         for number in range(1, settings.engines + 1)),
             f"; standing by for {settings.standby_asterisks}" if standbys else "")
    try:
        code = Supervisor(children, on_stop=listening.close,
                          on_exit=metrics.process_gone).run()
    finally:
        listening.close()
        links.unpublish(settings.published_link)
        links.remove()
    log.info("stopped")
    if code:
        sys.exit(code)


def _listen(settings: Settings) -> socket.socket:
    """Bound here, once: a port in use fails `serve` at once, and every API process
    accepts from the same socket."""
    family = socket.AF_INET6 if ":" in settings.http_host else socket.AF_INET
    return socket.create_server((settings.http_host, settings.http_port), family=family,
                                backlog=1024)
