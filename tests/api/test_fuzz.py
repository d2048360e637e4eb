"""Schemathesis over the app's own /openapi.json, in-process (WSGI), on both databases.

Each operation gets positive and negative cases, sent with tenant acme's token, with no
token, and with the (never valid) token schemathesis makes up; without a valid token every
route but /health and the OAuth endpoints must answer 401 in its surface's error format.
Before every example the data is reset to one extension and one ring group (with that
extension as its member) of acme's and of globex's, so examples are independent and the
run is reproducible. Dictionaries mix known values into the generated ones: those
extensions' and groups' ids and the extension's number (a second create of it must be a
clean 400), the tenants' user ids, an id just beyond the 63-bit range, ids of digits that
are not ASCII ('²' in base64 is `wrI=`), and strings with a NUL.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from flask.testing import FlaskClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode, Response
from schemathesis.checks import (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Err
from schemathesis.schemas import APIOperation

from bridge.api.app import create_app
from bridge.api.health import Readiness
from bridge.store.ids import encode_id
from bridge.store.models import Base, Extension, ForwardingNumber, RingGroup, RingGroupMember
from bridge.store.session import Database
from tests.api.conftest import NON_ASCII_DIGIT_IDS, RecordingProvisioner, TenantAuth

SEEDED_IDS = (700551909773148160, 700551909773148161)  # acme's extension, globex's
SEEDED_NUMBER = "1001"
SEEDED_GROUP_IDS = (700551909773148170, 700551909773148171)  # acme's ring group, globex's
OUT_OF_RANGE_ID = encode_id(2**63)  # well-formed, beyond BIGINT
KEPT_TABLES = {"tenants", "users", "api_tokens"}
AUTHS = ("acme", "none", "made-up")
# Routes that take no bearer token by design: the health check and the OAuth endpoints.
NO_BEARER = frozenset({"/health", "/api/login/oauth/token", "/api/login/oauth/revoke",
                       "/restapi/oauth/token", "/restapi/oauth/revoke"})
# Each surface's 401: where its error body keeps the code, and the code.
UNAUTHORIZED: dict[str, tuple[Callable[[Any], Any], str]] = {
    "/api/": (lambda body: body["errors"][0]["code"], "UNAUTHORIZED"),
    "/restapi/": (lambda body: body["errorCode"], "OAU-123"),
    "/uapi/": (lambda body: body["error"]["code"], "unauthorized"),
}


CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
# The refusals of a request its schema allows: rules on data (a number taken, an
# extension or call that does not exist, a number invalid in the tenant's region, the
# list options' grammar) that no schema can state. Any other 400 to such a request is a
# rule the schema fails to document.
DATA_RULES = re.compile("|".join((
    r"exists", r"is not a phone number: \(\d\)", r"already goes to another ring group",
    r"listed twice", r"no extension",
    r"not a valid number", r"is not a user id", r"no such user", r"\bfilter[: ]",
    r"\borderby: ", r"base_url is required", r"forward to itself", r"parking positions",
    r"set at create only", r"not a forwarding number", r"country .* is unknown",
    r"from is required", r"pc_phonecall_invalid", r"pc_phonecallview_invalid",
    r"pc_sendcallto_invalid", r"filtervalue_invalid", r"filterop_invalid",
    # A CLI token, or a hint naming another kind of token, cannot be revoked there.
    r"unsupported_token_type",
    # A NUL anywhere in a body is refused, also deep in a field the route ignores: the
    # document allows such fields (VoIPNow's) but cannot say "no NUL at any depth".
    r"must not contain NUL",
    # A bracketed host must be an IPv6 address, more than the document's pattern says.
    r"an \[IPv6\] address in brackets",
    # A port's range (1-65535) is the service's to say; the pattern says five digits.
    r"must have a port of 1-65535",
)))
VALID_EXAMPLES = 15  # per operation; not shrunk: a failure shows its first example
VALID_KNOWN = ("path.", "body.items[*].extension_number", "body.user_id",
               "body.extension_number", "body.caller_ids[*]", "body.action",
               "body.sendCallTo", "body.forwarding_numbers[*].number")


def operation_labels() -> list[str]:
    app = create_app(Database("sqlite://"), RecordingProvisioner(),
                     lambda: Readiness(True, True, True))
    labels = []
    for result in schemathesis.openapi.from_wsgi("/openapi.json", app).get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        labels.append(result.ok().label)
    return labels


def fuzz_config(tenants: list[TenantAuth], valid_only: bool = False) -> schemathesis.Config:
    """Known values mixed into the generated ones: {parameter: (values, probability)};
    `valid_only`: only those the document allows (no bad ids, no NUL)."""
    known: dict[str, tuple[list[str], float]] = {
        "path.extension_id": ([*map(encode_id, SEEDED_IDS), OUT_OF_RANGE_ID,
                               *NON_ASCII_DIGIT_IDS], 0.6),
        "path.ring_group_id": ([*map(encode_id, SEEDED_GROUP_IDS), OUT_OF_RANGE_ID,
                                *NON_ASCII_DIGIT_IDS], 0.6),
        "path.account_id": (["~", *NON_ASCII_DIGIT_IDS], 0.5),
        "path.ringout_id": (["²", "١٢", *NON_ASCII_DIGIT_IDS], 0.5),
        "path.agent_number": ([SEEDED_NUMBER], 0.7),
        "body.items[*].extension_number": ([SEEDED_NUMBER], 0.5),
        "body.user_id": ([*(encode_id(who.user_id) for who in tenants), OUT_OF_RANGE_ID], 0.5),
        "body.extension_number": ([SEEDED_NUMBER], 0.2),
        "body.caller_ids[*]": (["+14155550100", "02079460958"], 0.8),
        "path.user": (["@me", "@viewer", "@owner", *(encode_id(w.user_id) for w in tenants),
                       *NON_ASCII_DIGIT_IDS], 0.7),
        "path.extension": ([SEEDED_NUMBER, "@self"], 0.7),
        "body.action": (["Park", "UnPark", "PickUp"], 0.7),
        "body.sendCallTo": ([SEEDED_NUMBER], 0.5),
        "body.forwarding_numbers[*].number": (["+14155550101", "4155550102"], 0.8),
        **{f"body.{name}": (["nul\x00inside"], 0.2)
           for name in ("display_name", "agent_id", "password")},
    }
    if valid_only:
        known = {key: ([v for v in values if "\x00" not in v and v != OUT_OF_RANGE_ID
                        and v not in NON_ASCII_DIGIT_IDS and v not in ("~", "²", "١٢")],
                       probability)
                 for key, (values, probability) in known.items() if key.startswith(VALID_KNOWN)}
        known = {key: rule for key, rule in known.items() if rule[0]}
    return schemathesis.Config.from_dict({
        "dictionaries": {key: {"values": values} for key, (values, _) in known.items()},
        "parameters": {key: {"dictionary": key, "probability": probability}
                       for key, (_, probability) in known.items()},
        "output": {"sanitization": {"enabled": False}},  # throwaway tokens; show the body
    })


def reset(database: Database, tenants: list[TenantAuth]) -> None:
    with database.session() as session:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name not in KEPT_TABLES:
                session.execute(table.delete())
        for who, extension_id, group_id in zip(tenants, SEEDED_IDS, SEEDED_GROUP_IDS,
                                               strict=True):
            extension = Extension(
                id=extension_id, tenant_id=who.tenant_id, user_id=who.user_id,
                extension_number=SEEDED_NUMBER, agent_id=f"agent@{who.sip_domain}",
                sip_password="seeded-password", caller_ids=["+14155550100"],
                forwarding_numbers=[ForwardingNumber(position=0, number="+14155550101",
                                                     is_default=True)])
            session.add(extension)
            session.add(RingGroup(
                id=group_id, tenant_id=who.tenant_id, name="Seeded", extension_number="6000",
                ring_strategy="RING_SIMULTANEOUSLY",
                members=[RingGroupMember(position=0, extension=extension)]))


def examples(operation: APIOperation, auth: str) -> int:
    """Most where a body can carry bad data; few without a token (all must be 401)."""
    if auth != "acme":
        return 10
    return 100 if len(operation.body) else 20


def check_body(case: Case, response: Response) -> None:
    """JSON, or empty on success; under /api/ a 4xx is `{"errors": [{code, message, detail}]}`."""
    where = f"{case.method} {case.formatted_path} -> {response.status_code}"
    if not response.content:
        assert response.status_code < 400, f"{where}: empty error body"
        return
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.startswith("application/json"), f"{where}: {content_type}"
    body = json.loads(response.content)
    if case.path.startswith("/uapi/") and response.status_code >= 400:
        error = body.get("error") if isinstance(body, dict) else None
        assert isinstance(error, dict) and set(error) == {"code", "message"}, f"{where}: {body}"
        assert all(isinstance(error[key], str) for key in error), f"{where}: {body}"
    if case.path.startswith("/api/") and 400 <= response.status_code < 500:
        errors = body.get("errors") if isinstance(body, dict) else None
        assert isinstance(errors, list) and errors and set(body) == {"errors"}, f"{where}: {body}"
        for error in errors:
            assert isinstance(error, dict) and set(error) == {"code", "message", "detail"}, (
                f"{where}: {body}")
            assert isinstance(error["code"], str) and isinstance(error["message"], str), (
                f"{where}: {body}")


def check_unauthorized(case: Case, response: Response) -> None:
    """Without a valid token, every route that takes one answers 401 in its surface's
    own error format, whatever the rest of the request holds."""
    where = f"{case.method} {case.formatted_path} -> {response.status_code}"
    assert response.status_code == 401, f"{where}: {response.content[:300]!r}"
    (code_of, code), = (rule for prefix, rule in UNAUTHORIZED.items()
                        if case.path.startswith(prefix))
    body = json.loads(response.content)
    assert code_of(body) == code, f"{where}: {body}"


@pytest.mark.parametrize("auth", AUTHS)
@pytest.mark.parametrize("label", operation_labels())
def test_fuzz(label: str, auth: str, client: FlaskClient, database: Database,
              acme: TenantAuth, globex: TenantAuth) -> None:
    method, path = label.split(" ", 1)
    schema = schemathesis.openapi.from_wsgi("/openapi.json", client.application,
                                            config=fuzz_config([acme, globex]))
    operation = schema[path][method]

    @settings(max_examples=examples(operation, auth), derandomize=True, database=None,
              deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=st.one_of([operation.as_strategy(mode) for mode in GenerationMode]))
    def run(case: Case) -> None:
        reset(database, [acme, globex])
        headers = dict(case.headers or {})
        if auth == "acme":
            headers.update(acme.headers)
        elif auth == "none":
            headers.pop("Authorization", None)
        case.headers = headers  # type: ignore[assignment]  # a plain dict works (auth sets one)
        response = case.call()
        case.validate_response(response, checks=CHECKS)
        check_body(case, response)
        if auth != "acme" and path not in NO_BEARER:
            check_unauthorized(case, response)

    run()


def check_valid_request_accepted(case: Case, response: Response) -> None:
    """A request its schema allows is refused only for a rule on data (DATA_RULES)."""
    if response.status_code == 400:
        text = response.content.decode()
        assert DATA_RULES.search(text), (
            f"{case.method} {case.formatted_path} {case.query} {case.body!r} -> {text}")


@pytest.mark.parametrize("label", operation_labels())
def test_valid_requests(label: str, client: FlaskClient, database: Database,
                        acme: TenantAuth, globex: TenantAuth) -> None:
    """Positive cases only, with acme's token: the answers conform to the document
    (status and body), and a request the document allows is not refused for its shape."""
    method, path = label.split(" ", 1)
    schema = schemathesis.openapi.from_wsgi("/openapi.json", client.application,
                                            config=fuzz_config([acme, globex], True))
    operation = schema[path][method]

    @settings(max_examples=VALID_EXAMPLES, derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(GenerationMode.POSITIVE))
    def run(case: Case) -> None:
        reset(database, [acme, globex])
        case.headers = {**case.headers, **acme.headers}  # type: ignore[assignment]  # as above
        response = case.call()
        case.validate_response(response, checks=CHECKS)
        check_body(case, response)
        check_valid_request_accepted(case, response)

    run()
