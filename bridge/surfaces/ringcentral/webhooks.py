"""A subscription's WebHook address: where it may point, and RingCentral's handshake.

Any user may make a subscription, so its address is where ringbridge will send requests
on that user's word. It must resolve to public addresses only, unless it falls in the
networks the operator allows (`webhook_allowed_networks`, e.g. a receiver on the same
host or LAN): a user cannot point ringbridge at the services around it. The address is
checked when the subscription is made or changed (a name that resolves elsewhere later
is not checked again).

The handshake: an empty POST with a fresh `Validation-Token` header, answered within
3 s with 200, the same header, and at most 1024 bytes of headers and body together, or
the subscription is refused with `SUB-525`, as RingCentral does.
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
from urllib.parse import urlsplit

import httpx

from bridge.http_urls import Network
from bridge.services.errors import ServiceError

HANDSHAKE_TIMEOUT = 3.0
MAX_ANSWER_BYTES = 1024


class InvalidWebhook(ServiceError):
    code = "SUB-525"


class AddressRefused(ServiceError):
    code = "SUB-521"


def check_reachable_by_policy(address: str, allowed: list[Network]) -> None:
    """Refuse an address that resolves to a non-public IP outside `allowed`."""
    host = urlsplit(address).hostname or ""
    try:
        found = {info[4][0] for info in socket.getaddrinfo(host, None,
                                                           type=socket.SOCK_STREAM)}
    except (socket.gaierror, UnicodeError) as exc:
        raise InvalidWebhook(f"WebHook server response is invalid: {host} does not resolve "
                             f"({exc})", field="deliveryMode.address") from exc
    for text in sorted(str(address) for address in found):
        ip = ipaddress.ip_address(text.split("%")[0])
        if not ip.is_global and not any(ip in network for network in allowed):
            raise AddressRefused(f"deliveryMode.address resolves to {ip}, which is not a "
                                 "public address (the operator may allow such networks "
                                 "with webhook_allowed_networks)",
                                 field="deliveryMode.address")


def handshake(address: str) -> None:
    """RingCentral's validation request; InvalidWebhook unless answered as it requires."""
    token = secrets.token_urlsafe(24)
    try:
        response = httpx.post(address, headers={"Validation-Token": token},
                              timeout=HANDSHAKE_TIMEOUT, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise InvalidWebhook(f"WebHook server response is invalid: no answer from "
                             f"{address} ({type(exc).__name__})",
                             field="deliveryMode.address") from exc
    problem = _answer_problem(response, token)
    if problem:
        raise InvalidWebhook(f"WebHook server response is invalid: {problem}",
                             field="deliveryMode.address")


def _answer_problem(response: httpx.Response, token: str) -> str | None:
    if response.status_code != 200:
        return f"it answered {response.status_code}, not 200"
    if response.headers.get("Validation-Token") != token:
        return "it did not send back the Validation-Token header"
    size = len(response.content) + sum(len(name) + len(value) + 4  # ": " and CRLF
                                       for name, value in response.headers.items())
    if size > MAX_ANSWER_BYTES:
        return f"its answer has {size} bytes, over {MAX_ANSWER_BYTES}"
    return None
