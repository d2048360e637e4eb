"""The API's ring strategies are the engine's strategy table, in the table's order."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from marshmallow import Schema
from marshmallow.validate import OneOf

from bridge.flows.strategies import NAMES
from bridge.surfaces.portsip.ring_groups import RingGroupCreateIn, RingGroupUpdateIn
from tests.support.json_answers import json_of


@pytest.mark.parametrize("schema", [RingGroupCreateIn, RingGroupUpdateIn])
def test_the_api_accepts_exactly_the_tables_strategies(schema: type[Schema]) -> None:
    (validator,) = schema().fields["ring_strategy"].validators
    assert isinstance(validator, OneOf)
    assert tuple(validator.choices) == NAMES


@pytest.mark.parametrize("schema", ["RingGroupCreateIn", "RingGroupUpdateIn"])
def test_the_openapi_enum_lists_the_tables_strategies_in_order(client: FlaskClient,
                                                               schema: str) -> None:
    schemas = json_of(client.get("/openapi.json"))["components"]["schemas"]
    assert schemas[schema]["properties"]["ring_strategy"]["enum"] == list(NAMES)
