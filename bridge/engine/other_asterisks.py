"""Whether a phone is on a call through another Asterisk node of the cluster.

A ring group that skips busy members asks its own Asterisk whether the member's
endpoint has a channel; in a cluster the member may be talking through another node
(calls are dealt round the nodes), which its own Asterisk does not see. Every node
knows every endpoint (docs/cluster.md), so the others are asked the same question over
ARI's REST interface, at once and briefly: a node that does not answer in time counts
as not seeing a call (ringing a phone that turns out busy beats ringing nobody).
"""

from __future__ import annotations

import asyncio
import logging
import time
from urllib.parse import quote

import httpx

log = logging.getLogger(__name__)
TIMEOUT = 0.5  # seconds: this is in a caller's path
QUIET = 5.0  # seconds a node that did not answer is not asked


class OtherAsterisks:
    def __init__(self, ari_urls: list[str], user: str, password: str,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._clients = [httpx.AsyncClient(base_url=url.rstrip("/"), auth=(user, password),
                                           timeout=TIMEOUT, transport=transport)
                         for url in ari_urls]
        # A node that did not answer is not asked again for a while (it is likely down:
        # every hunt would wait for it, and log it).
        self._quiet_until: dict[httpx.AsyncClient, float] = {}

    async def on_a_call(self, endpoint_id: str) -> bool:
        """Whether any other node has a channel of the endpoint (PJSIP/`endpoint_id`);
        TIMEOUT seconds at most in all."""
        seen = await asyncio.gather(*(self._has_channel(client, endpoint_id)
                                      for client in self._clients))
        return any(seen)

    async def close(self) -> None:
        await asyncio.gather(*(client.aclose() for client in self._clients))

    async def _has_channel(self, client: httpx.AsyncClient, endpoint_id: str) -> bool:
        if time.monotonic() < self._quiet_until.get(client, 0.0):
            return False
        try:
            response = await asyncio.wait_for(client.get(
                f"/endpoints/PJSIP/{quote(endpoint_id, safe='@')}"), TIMEOUT)
            response.raise_for_status()
            endpoint = response.json()
            return isinstance(endpoint, dict) and bool(endpoint.get("channel_ids"))
        except (httpx.HTTPError, ValueError, TimeoutError) as exc:
            log.warning("endpoint %s: %s did not say whether it is on a call there (%s); "
                        "taken as not, and not asked again for %.0f s", endpoint_id,
                        client.base_url, exc, QUIET)
            self._quiet_until[client] = time.monotonic() + QUIET
            return False
