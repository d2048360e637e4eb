"""A tenant's dispatch settings as the engine uses them, and the addresses they give."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

EVENTS = ("invite", "ringing", "connected", "cleared", "missed")
RETRIED_EVENTS = frozenset({"connected", "cleared", "missed"})

DEFAULT_INVITE_TIMEOUT_MS = 300
DEFAULT_RINGING_TIMEOUT_MS = 1500
DEFAULT_DELIVERY_TIMEOUT_MS = 5000
DEFAULT_RETRY_SECONDS = 600


@dataclass(frozen=True)
class DispatchConfig:
    """Where a tenant's dispatch API lives and how to talk to it.

    `invite_timeout` bounds how long a new call waits for `invite`; a `307` to
    `ringing` is acted on only if it comes within `ringing_timeout`; every request
    gives up after `delivery_timeout`; `connected`/`cleared`/`missed` are retried for
    `retry_seconds`.
    """

    tenant_id: int
    company_id: str
    base_url: str
    company_in_path: bool = False
    company_in_query: bool = False
    events: frozenset[str] = frozenset(EVENTS)
    invite_timeout: float = DEFAULT_INVITE_TIMEOUT_MS / 1000
    ringing_timeout: float = DEFAULT_RINGING_TIMEOUT_MS / 1000
    delivery_timeout: float = DEFAULT_DELIVERY_TIMEOUT_MS / 1000
    retry_seconds: int = DEFAULT_RETRY_SECONDS
    signing_secret: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    time_zone: str = "UTC"  # the tenant's IANA zone: the offset of event times

    def url(self, method: str, query: Mapping[str, str] | None = None) -> str:
        """`{base}/telephony/{method}` or `{base}/{companyId}/telephony/{method}`.

        The company id is percent-encoded as one path segment (`ABC Taxis` →
        `ABC%20Taxis`); it joins the query when the tenant asks for that.
        """
        base = self.base_url.rstrip("/")
        if self.company_in_path:
            base = f"{base}/{quote(self.company_id, safe='')}"
        params = dict(query or {})
        if self.company_in_query:
            params.setdefault("companyId", self.company_id)
        url = f"{base}/telephony/{method}"
        return f"{url}?{urlencode(params, quote_via=quote)}" if params else url
