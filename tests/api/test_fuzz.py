"""Schemathesis over the app's own /openapi.json, in-process (WSGI), on both databases.

Every operation gets positive and negative cases with tenant acme's token, with none, and
with the (never valid) token schemathesis makes up. Before each example the extensions are
reset to one of acme's and one of globex's, whose ids the path ids are drawn from as well as
random text, and create bodies sometimes reuse acme's number, so a request meets the same
state every time: examples stay independent and reproducible.
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode, Response
from schemathesis.checks import not_a_server_error, response_schema_conformance
from schemathesis.schemas import APIOperation
from sqlalchemy import delete

from bridge.api.app import create_app
from bridge.api.health import Readiness
from bridge.store.ids import encode_id
from bridge.store.models import Extension, ForwardingNumber
from bridge.store.session import Database
from tests.api.conftest import RecordingProvisioner, TenantAuth

SEEDED = {"acme": 700551909773148160, "globex": 700551909773148161}
SEEDED_NUMBER = "1001"

_spec_app = create_app(Database("sqlite://"), RecordingProvisioner(), lambda: Readiness(
    True, True, True))
OPERATIONS = {op.label: op for op in (
    result.ok() for result in schemathesis.openapi.from_wsgi(
        "/openapi.json", _spec_app).get_all_operations())}


def cases(operation: APIOperation) -> st.SearchStrategy[Case]:
    ids = [encode_id(i) for i in SEEDED.values()]
    strategies = []
    for mode in GenerationMode:
        generated = operation.as_strategy(mode)
        strategies.append(generated)
        if "{extension_id}" in operation.path:
            strategies += [operation.as_strategy(mode, path_parameters={"extension_id": i})
                           for i in ids]
        if operation.method == "post":
            strategies.append(generated.map(reuse_number))
    return st.one_of(strategies)


def reuse_number(case: Case) -> Case:
    if isinstance(case.body, dict) and "extension_number" in case.body:
        case.body["extension_number"] = SEEDED_NUMBER
    return case


def reset(database: Database, tenants: dict[str, TenantAuth]) -> None:
    with database.session() as session:
        session.execute(delete(ForwardingNumber))
        session.execute(delete(Extension))
        for name, who in tenants.items():
            session.add(Extension(
                id=SEEDED[name], tenant_id=who.tenant_id, extension_number=SEEDED_NUMBER,
                agent_id=f"agent@{who.sip_domain}", user_id=who.user_id,
                sip_password="seeded-password", caller_ids=["+14155550100"],
                forwarding_numbers=[ForwardingNumber(position=0, number="+14155550101",
                                                     is_default=True)]))


def check_body(case: Case, response: Response) -> None:
    where = f"{case.method} {case.formatted_path} -> {response.status_code}"
    if not response.content:
        assert 200 <= response.status_code < 300, f"{where}: empty error body"
        return
    assert response.headers.get("content-type", [""])[0].startswith(
        "application/json"), f"{where}: {response.headers.get('content-type')}"
    body = json.loads(response.content)
    if case.path.startswith("/api/") and 400 <= response.status_code < 500:
        assert isinstance(body, dict) and set(body) == {"errors"}, f"{where}: {body}"
        assert body["errors"] and all(
            isinstance(e, dict) and set(e) == {"code", "message", "detail"}
            and isinstance(e["code"], str) and isinstance(e["message"], str)
            for e in body["errors"]), f"{where}: {body}"


@pytest.mark.parametrize("auth", ["acme", "none", "made-up"])
@pytest.mark.parametrize("label", list(OPERATIONS))
def test_fuzz(label: str, auth: str, client: FlaskClient, database: Database,
              acme: TenantAuth, globex: TenantAuth) -> None:
    operation = OPERATIONS[label]

    @settings(max_examples=60, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck), print_blob=True)
    @given(case=cases(operation))
    def run(case: Case) -> None:
        reset(database, {"acme": acme, "globex": globex})
        headers = dict(case.headers or {})
        if auth == "acme":
            headers.update(acme.headers)
        elif auth == "none":
            headers.pop("Authorization", None)
        case.headers = headers
        response = case.call(app=client.application)
        case.validate_response(response, checks=[not_a_server_error,
                                                 response_schema_conformance])
        check_body(case, response)

    run()
