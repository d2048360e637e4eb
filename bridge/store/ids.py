"""Object ids: random 63-bit integers inside, vendor-style opaque strings outside.

PortSIP ids look like base64 of a decimal 64-bit number (`NzAwNTUxOTA5NzczMTQ4MTYw` is
base64("700551909773148160")). Ours are random, so they say nothing about creation
order or about other tenants' objects.
"""

from __future__ import annotations

import base64
import binascii
import secrets

_MIN_ID = 10**17  # every id has 18 or 19 digits, like the vendor's


def new_id() -> int:
    return _MIN_ID + secrets.randbelow(2**63 - _MIN_ID)


def encode_id(value: int) -> str:
    return base64.b64encode(str(value).encode()).decode()


def decode_id(text: str) -> int | None:
    """The id inside `text`, or None when `text` is not one of ours."""
    try:
        decoded = base64.b64decode(text.encode(), validate=True).decode()
    except (binascii.Error, UnicodeError, ValueError):
        return None
    if not decoded.isdigit() or len(decoded) > 19 or encode_id(int(decoded)) != text:
        return None
    value = int(decoded)
    return value if value < 2**63 else None  # beyond BIGINT: a database error otherwise
