"""How deeply a JSON text nests, read from its bytes without parsing it.

A body nested hundreds of levels deep parses (the C decoder goes about a thousand
levels down) and then overflows the stack of whatever walks it recursively: schema
validation, error formatting. Bodies are measured here first, in linear time: strings
are cut out (brackets inside them do not count), then the brackets left are summed.
"""

from __future__ import annotations

import re
from itertools import accumulate

MAX_DEPTH = 32
# A string to its closing quote; an unterminated one (invalid JSON) to the end, so that
# a body of unclosed strings is still read once, not once per quote.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*+\\?(?:"|\Z)', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [0] * 256
for _opening in b"[{":
    _STEP[_opening] = 1
for _closing in b"]}":
    _STEP[_closing] = -1


def nesting_depth(text: bytes | str) -> int:
    """The deepest nesting of arrays and objects: `1` is 0, `[]` 1, `[{}]` 2; brackets
    never closed count as open."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def too_deep(text: bytes | str, limit: int = MAX_DEPTH) -> bool:
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if data.count(b"[") + data.count(b"{") <= limit:  # most bodies: no need to measure
        return False
    return nesting_depth(data) > limit
