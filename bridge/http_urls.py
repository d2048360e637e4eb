"""Absolute http(s) URLs from settings (a dispatcher's base_url, ringbridge's public
URL), checked strictly: one accepted is one the HTTP client takes as it is.

`urlsplit` quietly drops tabs and line breaks and reads `user:secret@` as part of the
address, so the text itself is checked first.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

import httpx

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")


def http_url_problem(url: str) -> str | None:
    """What is wrong with `url`, or None: it must be http(s) with a host, an optional
    numeric port and maybe a path; no credentials, query, fragment, whitespace or
    control characters."""
    if _UNSAFE.search(url):
        return "must not contain whitespace or control characters"
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. a bracketed host that is no IPv6 address
        return "must name a host (an [IPv6] address in brackets)"
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "must be an absolute http:// or https:// URL"
    if "@" in parts.netloc:
        return "must not contain credentials (user:password@)"
    if not parts.hostname:
        return "must name a host"
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0 or parts.netloc.endswith(":"):
        return "must have a port of 1-65535 (digits only), or none"
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        return "must not have a query or fragment"
    try:
        httpx.URL(url)
    except httpx.InvalidURL as exc:
        return f"is not a URL the HTTP client takes ({exc})"
    return None


def allowed_networks(text: str) -> list[Network]:
    """The setting's networks (comma-separated CIDRs); ValueError names a bad one."""
    return [ipaddress.ip_network(part.strip(), strict=False)
            for part in text.split(",") if part.strip()]
