"""The signing secret a client sets (dispatch settings, a subscription's delivery)."""

from __future__ import annotations

from bridge.dispatch.signing import is_valid_secret, new_secret
from bridge.services.errors import ValidationFailed

GENERATE = "generate"  # asks for a new secret, answered once


def chosen_secret(value: str | None, field: str) -> str | None:
    """The signing secret to keep (dispatch settings, subscriptions): a new one for
    "generate", the `whsec_…` one given, or None for none."""
    if value == GENERATE:
        return new_secret()
    if value is not None and not is_valid_secret(value):
        raise ValidationFailed(f"{field} must be whsec_ + base64 of 24..64 bytes, or "
                               f"{GENERATE!r}", field=field)
    return value
