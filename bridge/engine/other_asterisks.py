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
from urllib.parse import quote

import httpx

log = logging.getLogger(__name__)
TIMEOUT = 0.5  # seconds: this is in a caller's path


class OtherAsterisks:
    def __init__(self, ari_urls: list[str], user: str, password: str,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._clients = [httpx.AsyncClient(base_url=url.rstrip("/"), auth=(user, password),
                                           timeout=TIMEOUT, transport=transport)
                         for url in ari_urls]

    async def on_a_call(self, endpoint_id: str) -> bool:
        """Whether any other node has a channel of the endpoint (PJSIP/`endpoint_id`)."""
        seen = await asyncio.gather(*(self._has_channel(client, endpoint_id)
                                      for client in self._clients))
        return any(seen)

    async def close(self) -> None:
        await asyncio.gather(*(client.aclose() for client in self._clients))

    async def _has_channel(self, client: httpx.AsyncClient, endpoint_id: str) -> bool:
        try:
            response = await client.get(f"/endpoints/PJSIP/{quote(endpoint_id, safe='@')}")
            response.raise_for_status()
            return bool(response.json().get("channel_ids"))
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("endpoint %s: %s did not say whether it is on a call there (%s); "
                        "taken as not", endpoint_id, client.base_url, exc)
            return False
