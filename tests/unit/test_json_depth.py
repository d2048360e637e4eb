from __future__ import annotations

import json

import pytest

from bridge.api.json_depth import nesting_depth, too_deep


@pytest.mark.parametrize(("text", "depth"), [
    ("1", 0), ('"[{"', 0), ("[]", 1), ("[{}]", 2), ('{"a": [1, {"b": "]]]"}]}', 3),
    ('["\\"[", [1]]', 2), ('["\\\\", [1]]', 2), ("[[[", 3), ('["unterminated [[[', 1),
    ('"\\', 0), ("", 0),
])
def test_nesting_depth(text: str, depth: int) -> None:
    assert nesting_depth(text) == depth == nesting_depth(text.encode())


def parsed_depth(value: object) -> int:
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            depth += 1
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth) for child in children)
        deepest = max(deepest, depth)
    return deepest


def test_depth_agrees_with_a_parser() -> None:
    value: object = {"name": "x"}
    for level in range(40):
        value = [1, "]]", {"k": [value]}] if level % 3 else {"v": value, "w": "{["}
        text = json.dumps(value)
        assert nesting_depth(text) == parsed_depth(json.loads(text)) > level


def test_too_deep_is_beyond_the_limit() -> None:
    assert not too_deep("[" * 32 + "]" * 32)
    assert too_deep("[" * 33 + "]" * 33)
    assert not too_deep('"' + "[" * 100 + '"')
