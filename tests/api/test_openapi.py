"""The OpenAPI document comes from the same schemas that validate requests."""

from __future__ import annotations

import re
from typing import Any

import jsonschema_rs
import pytest
from flask.testing import FlaskClient

from bridge.api.schemas import MAX_BODY
from bridge.surfaces.portsip.errors import PORTSIP_ERROR_SCHEMA
from bridge.surfaces.ringcentral.errors import RINGCENTRAL_ERROR_SCHEMA
from bridge.surfaces.voipnow.errors import VOIPNOW_ERROR_SCHEMA
from tests.api.conftest import TenantAuth
from tests.support.json_answers import json_of

ERROR_SCHEMAS = (PORTSIP_ERROR_SCHEMA, RINGCENTRAL_ERROR_SCHEMA,
                 {"$ref": "#/components/schemas/HTTPError"},
                 {"$ref": "#/components/schemas/ValidationError"})


def test_openapi_document_describes_every_surface(client: FlaskClient) -> None:
    spec = json_of(client.get("/openapi.json"))
    assert spec["openapi"].startswith("3.")
    for path in ("/api/extensions", "/api/extensions/{extension_id}", "/api/ring_groups",
                 "/api/ring_groups/{ring_group_id}/agents", "/api/login/oauth/token",
                 "/health", "/restapi/oauth/token",
                 "/restapi/v1.0/account/{account_id}/extension/{extension_id}/ring-out",
                 "/restapi/v1.0/account/{account_id}/extension/{extension_id}/ringout"):
        assert path in spec["paths"], path
    list_params = {p["name"] for p in spec["paths"]["/api/ring_groups"]["get"]["parameters"]}
    assert {"filter", "search", "orderby", "skip", "top"} <= list_params
    create = spec["paths"]["/api/extensions"]["post"]["requestBody"]["content"]
    schema_ref = create["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert "extension_number" in spec["components"]["schemas"][schema_ref]["required"]


@pytest.mark.parametrize("path", ["/api/ring_groups", "/api/extensions"])
def test_skip_and_top_are_documented_as_bounded_integers(client: FlaskClient,
                                                         path: str) -> None:
    spec = json_of(client.get("/openapi.json"))
    schemas = {p["name"]: p["schema"] for p in spec["paths"][path]["get"]["parameters"]}
    assert schemas["top"] == {"type": "integer", "minimum": 1, "maximum": 100, "default": 100}
    assert schemas["skip"] == {"type": "integer", "minimum": 0, "maximum": 2**63 - 1,
                               "default": 0}


def test_restapi_errors_are_documented_in_the_ringcentral_shape(client: FlaskClient
                                                                   ) -> None:
    spec = json_of(client.get("/openapi.json"))
    ringout = spec["paths"]["/restapi/v1.0/account/{account_id}/extension/{extension_id}/"
                            "ring-out"]["post"]["responses"]
    for status in ("400", "401", "404"):
        schema = ringout[status]["content"]["application/json"]["schema"]
        assert schema["required"] == ["errorCode", "message", "errors"], status
    portsip = spec["paths"]["/api/extensions"]["post"]["responses"]["400"]
    assert "errorCode" not in str(portsip)


def test_docs_page_is_served_without_a_token(client: FlaskClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert b"openapi.json" in response.data


def test_docs_page_loads_swagger_ui_from_ringbridge_not_a_cdn(client: FlaskClient) -> None:
    page = client.get("/docs").get_data(as_text=True)
    assets = re.findall(r'(?:href|src)="([^"]*)"', page)
    assert len(assets) == 4 and all(url.startswith("/docs/assets/") for url in assets), assets
    types = {".css": "text/css", ".js": "text/javascript", ".png": "image/png"}
    for url in assets:
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.content_type.startswith(types[url[url.rindex("."):]]), url
        assert len(response.data) > 500, url


def test_phone_calls_document_the_voipnow_error_body(client: FlaskClient) -> None:
    spec = json_of(client.get("/openapi.json"))
    operation = spec["paths"]["/uapi/phoneCalls/{user}/{extension}/{call_id}"]["put"]
    for status in ("400", "401", "404", "409"):
        schema = operation["responses"][status]["content"]["application/json"]["schema"]
        assert schema["required"] == ["error"], status
    body = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    fields = spec["components"]["schemas"][body.rsplit("/", 1)[-1]]["properties"]
    assert {"action", "phoneCallViewId", "maxInParking", "sendCallTo"} <= set(fields)


@pytest.mark.parametrize("path, status", [
    ("/api/ring_groups/{ring_group_id}", "200"),
    ("/api/ring_groups/{ring_group_id}/agents", "200"),
    ("/api/ring_groups/{ring_group_id}/destroy", "204"),
    ("/api/extensions/{extension_id}", "200"),
    ("/api/login/oauth/revoke", "200"),
    ("/restapi/oauth/revoke", "200"),
])
def test_answers_with_no_body_are_documented_without_content(
    client: FlaskClient, path: str, status: str
) -> None:
    responses = json_of(client.get("/openapi.json"))["paths"][path]["post"]["responses"]
    assert responses[status].get("content", {}) == {}
    for code, response in responses.items():
        if code.startswith("4"):
            assert response["content"]["application/json"]["schema"] in ERROR_SCHEMAS, code


def _patterns(node: Any) -> list[str]:
    """Every `pattern` keyword's value in a JSON Schema tree (a property that happens to
    be called "pattern" holds a schema, not a string, and is walked into instead)."""
    if isinstance(node, dict):
        own = [node["pattern"]] if isinstance(node.get("pattern"), str) else []
        return own + [found for value in node.values() for found in _patterns(value)]
    if isinstance(node, list):
        return [found for value in node for found in _patterns(value)]
    return []


def test_every_pattern_is_an_ecma_262_regex(client: FlaskClient) -> None:
    """OpenAPI's `pattern` is ECMA-262: JS clients (ajv) compile it as such, and Python's
    \\A and \\Z anchors are not ECMA."""
    patterns = _patterns(client.get("/openapi.json").json)
    assert patterns, "the document has patterns (extension numbers at least)"
    ecma = jsonschema_rs.validator_for({"type": "string", "format": "regex"},
                                       validate_formats=True)
    assert [p for p in patterns if not ecma.is_valid(p)] == []


def test_every_route_reading_a_json_body_documents_415(client: FlaskClient) -> None:
    """415 (bridge/api/json_body.py), with the surface's error body."""
    surfaces = {"/api/": PORTSIP_ERROR_SCHEMA, "/restapi/": RINGCENTRAL_ERROR_SCHEMA,
                "/uapi/": VOIPNOW_ERROR_SCHEMA}
    spec = json_of(client.get("/openapi.json"))
    with_json = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            if "application/json" not in operation.get("requestBody", {}).get("content", {}):
                assert "415" not in responses, (method, path)
                continue
            with_json += 1
            assert "415" in responses, (method, path)
            (schema,) = [s for prefix, s in surfaces.items() if path.startswith(prefix)]
            assert responses["415"]["content"] == {"application/json": {"schema": schema}}
    # extensions and ring groups: create, update (and agents, and an extension's pause);
    # dispatch settings; both RingOut spellings; the two phone call actions; subscription
    # create and update
    assert with_json == 13


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, operation) for path, operations in spec["paths"].items()
            for method, operation in operations.items()]


def _surface_schema(path: str) -> dict[str, Any]:
    surfaces = {"/api/": PORTSIP_ERROR_SCHEMA, "/restapi/": RINGCENTRAL_ERROR_SCHEMA,
                "/uapi/": VOIPNOW_ERROR_SCHEMA}
    (schema,) = [s for prefix, s in surfaces.items() if path.startswith(prefix)]
    return schema


def test_every_route_reading_a_body_documents_and_answers_413(client: FlaskClient,
                                                              acme: TenantAuth) -> None:
    """A body over MAX_BODY is refused with 413 in the surface's error body, JSON and
    form bodies alike, and the document says so."""
    spec = json_of(client.get("/openapi.json"))
    with_body = 0
    for method, path, operation in _operations(spec):
        if "requestBody" not in operation:
            assert "413" not in operation["responses"], (method, path)
            continue
        with_body += 1
        schema = _surface_schema(path)
        assert operation["responses"]["413"]["content"] == {
            "application/json": {"schema": schema}}, (method, path)
        (content_type,) = operation["requestBody"]["content"]
        url = re.sub(r"\{[^}]+\}", "1001", path)
        response = client.open(url, method=method.upper(), headers=acme.headers,
                               data=b"x" * (MAX_BODY + 1), content_type=content_type)
        assert response.status_code == 413, (method, path, response.data[:200])
        assert jsonschema_rs.validator_for(schema).is_valid(response.json), response.json
    # the 13 JSON bodies of the 415 test, and the four OAuth forms
    assert with_body == 17


def test_every_operation_documents_a_success(client: FlaskClient) -> None:
    """Each operation documents a 2xx; one with a body names a schema for it."""
    spec = json_of(client.get("/openapi.json"))
    for method, path, operation in _operations(spec):
        successes = {code: answer for code, answer in operation["responses"].items()
                     if code.startswith("2")}
        assert successes, (method, path)
        for code, answer in successes.items():
            for content in answer.get("content", {}).values():
                assert content["schema"], (method, path, code)


def test_phone_calls_document_their_answers(client: FlaskClient) -> None:
    spec = json_of(client.get("/openapi.json"))
    schemas = spec["components"]["schemas"]
    calls = spec["paths"]["/uapi/phoneCalls/{user}/{extension}"]
    listed = calls["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert listed == {"$ref": "#/components/schemas/PhoneCallListOut"}
    entry = schemas["PhoneCallListOut"]["properties"]["entry"]["items"]["$ref"]
    call = schemas[entry.rsplit("/", 1)[-1]]
    assert {"id", "published", "phoneCallView", "links"} <= set(call["properties"])
    for method in ("put", "delete"):
        responses = calls[method]["responses"]
        assert responses["200"]["content"]["application/json"]["schema"]["type"] == "array"
        assert responses["204"].get("content", {}) == {}, method
