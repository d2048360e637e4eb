"""The API's ring strategies are the engine's strategy table, in the table's order."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from marshmallow.validate import OneOf

from bridge.surfaces.portsip.ring_groups import RingGroupCreateIn, RingGroupUpdateIn
from bridge.telephony.strategies import NAMES


@pytest.mark.parametrize("schema", [RingGroupCreateIn, RingGroupUpdateIn])
def test_the_api_accepts_exactly_the_tables_strategies(schema: type) -> None:
    (validator,) = schema._declared_fields["ring_strategy"].validators
    assert isinstance(validator, OneOf)
    assert tuple(validator.choices) == NAMES


@pytest.mark.parametrize("schema", ["RingGroupCreateIn", "RingGroupUpdateIn"])
def test_the_openapi_enum_lists_the_tables_strategies_in_order(client: FlaskClient,
                                                               schema: str) -> None:
    schemas = client.get("/openapi.json").json["components"]["schemas"]
    assert schemas[schema]["properties"]["ring_strategy"]["enum"] == list(NAMES)
