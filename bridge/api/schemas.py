"""Base of every request schema."""

from __future__ import annotations

from typing import Any

from apiflask import Schema
from marshmallow import ValidationError, pre_load


class InputSchema(Schema):
    """Refuses NUL characters anywhere in the input: no database stores them (PostgreSQL
    rejects them outright) and no phone, name or number contains one."""

    @pre_load
    def _no_nul(self, data: Any, **_kwargs: Any) -> Any:
        problems = dict(_nul_paths(data, ""))
        if problems:
            raise ValidationError(problems)
        return data


def _nul_paths(value: Any, path: str) -> list[tuple[str, list[str]]]:
    if isinstance(value, str):
        return [(path or "_schema", ["must not contain NUL characters"])] if "\x00" in value \
            else []
    if isinstance(value, dict):
        return [found for key, item in value.items()
                for found in _nul_paths(item, f"{path}.{key}" if path else str(key))]
    if isinstance(value, list):
        return [found for index, item in enumerate(value)
                for found in _nul_paths(item, f"{path}.{index}" if path else str(index))]
    return []
