"""Object ids: random 63-bit integers inside, vendor-style opaque strings outside.

PortSIP ids look like base64 of a decimal 64-bit number (`NzAwNTUxOTA5NzczMTQ4MTYw` is
base64("700551909773148160")). Ours are random, so they say nothing about creation
order or about other tenants' objects. New ones have 18 digits, like the vendor's
example, so every one is 24 characters without `=` padding (19 digits would be 28
characters ending in `==`); ids made before, of 18 or 19 digits, stay valid.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets

_DECIMAL = re.compile(r"[0-9]{1,19}")  # ASCII only: str.isdigit() also takes '²', '٣'
_MIN_ID, _END_ID = 10**17, 10**18  # 18 digits


def new_id() -> int:
    return _MIN_ID + secrets.randbelow(_END_ID - _MIN_ID)


def encode_id(value: int) -> str:
    return base64.b64encode(str(value).encode()).decode()


def decimal_id(text: str) -> int | None:
    """`text` as a BIGINT id when it is 1 to 19 ASCII digits below 2**63, else None
    (beyond BIGINT would be a database error)."""
    if not _DECIMAL.fullmatch(text):
        return None
    value = int(text)
    return value if value < 2**63 else None


def decode_id(text: str) -> int | None:
    """The id inside `text`, or None when `text` is not one of ours."""
    try:
        decoded = base64.b64decode(text.encode(), validate=True).decode()
    except (binascii.Error, UnicodeError, ValueError):
        return None
    value = decimal_id(decoded)
    # the re-encoding check refuses other spellings of the same id (leading zeros)
    return value if value is not None and encode_id(value) == text else None
