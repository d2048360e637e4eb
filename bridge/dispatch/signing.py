"""Standard Webhooks signatures (webhook-id, webhook-timestamp, webhook-signature).

What is signed is what the dispatcher acts on: a POST's body, and the query string of
the `invite` GET (whose data is all in its query; it has no body). docs/dispatch.md
shows how a dispatcher verifies both with the Standard Webhooks library.
"""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime

import httpx
from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A fresh signing secret in the Standard Webhooks form: `whsec_` + base64 of 32 bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def is_valid_secret(secret: str) -> bool:
    """`whsec_` + base64 of 24 to 64 bytes."""
    if not secret.startswith(SECRET_PREFIX):
        return False
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except ValueError:
        return False
    return 24 <= len(key) <= 64


def signature_headers(secret: str, webhook_id: str, body: str,
                      now: datetime | None = None) -> dict[str, str]:
    """The three headers for one attempt (the id stays the same across retries)."""
    moment = now or datetime.now(UTC)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, moment, body),
    }


def signed_content(url: str, body: str | None) -> str:
    """The payload a request's signature covers: its body when it has one, else its
    query string exactly as sent (after `?`, percent-encoded; "" for none)."""
    if body is not None:
        return body
    return httpx.URL(url).query.decode("ascii")
