"""Base of every request schema."""

from __future__ import annotations

import re
from typing import Any

from apiflask import Schema
from marshmallow import ValidationError, pre_load


class InputSchema(Schema):
    """Refuses text no database can store anywhere in the input: NUL (PostgreSQL rejects
    it) and unpaired UTF-16 surrogates (not encodable as UTF-8). No phone, name or
    number contains either."""

    @pre_load
    def _storable_text(self, data: Any, **_kwargs: Any) -> Any:
        problems = dict(_unstorable(data, ""))
        if problems:
            raise ValidationError(problems)
        return data


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _unstorable(value: Any, path: str) -> list[tuple[str, list[str]]]:
    if isinstance(value, str):
        if _UNSTORABLE.search(value):
            return [(path or "_schema",
                     ["must not contain NUL or unpaired surrogate characters"])]
        return []
    if isinstance(value, dict):
        return [found for key, item in value.items()
                for found in _unstorable(item, f"{path}.{key}" if path else str(key))]
    if isinstance(value, list):
        return [found for index, item in enumerate(value)
                for found in _unstorable(item, f"{path}.{index}" if path else str(index))]
    return []
