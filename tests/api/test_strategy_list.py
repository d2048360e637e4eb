"""The API's ring strategies are the engine's strategy table, in the table's order."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from marshmallow.validate import OneOf

from bridge.api.ring_groups import RingGroupCreateIn, RingGroupUpdateIn
from bridge.telephony.strategies import NAMES


@pytest.mark.parametrize("schema", [RingGroupCreateIn, RingGroupUpdateIn])
def test_the_api_accepts_exactly_the_tables_strategies(schema: type) -> None:
    (validator,) = schema._declared_fields["ring_strategy"].validators
    assert isinstance(validator, OneOf)
    assert tuple(validator.choices) == NAMES


def test_the_openapi_enum_lists_the_tables_strategies_in_order(client: FlaskClient) -> None:
    schemas = client.get("/openapi.json").json["components"]["schemas"]
    enums = [field["enum"] for schema in schemas.values()
             for name, field in schema.get("properties", {}).items()
             if name == "ring_strategy"]
    assert enums and all(enum == list(NAMES) for enum in enums)
