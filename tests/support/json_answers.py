"""The JSON an API answer carries, typed for the tests that read its fields."""

from __future__ import annotations

from typing import Any

from werkzeug.test import TestResponse


def json_of(response: TestResponse) -> dict[str, Any]:
    """The answer's JSON object; fails the test when the answer carries none."""
    body = response.json
    assert isinstance(body, dict), f"no JSON object in the answer: {response.data!r}"
    return body


def json_list_of(response: TestResponse) -> list[Any]:
    """The answer's JSON array; fails the test when the answer carries none."""
    body = response.json
    assert isinstance(body, list), f"no JSON array in the answer: {response.data!r}"
    return body
