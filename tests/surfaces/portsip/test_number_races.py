"""Numbers checked and written by concurrent requests: an extension number is one
object's in its tenant, a DID one ring group's of all tenants, whatever the timing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from bridge.services import extensions, ring_groups
from tests.api.conftest import TenantAuth
from tests.surfaces.portsip.ring_group_calls import GROUP

PAUSE = 0.3  # between a request's check and its insert: the other request checks then


def slow_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The last check of each create returns only after a pause: without a lock, both
    requests pass their checks before either inserts."""
    for module, name in ((extensions, "ring_group_id_by_number"),
                         (ring_groups, "ring_group_id_by_number"),
                         (ring_groups, "ring_group_by_did")):
        real: Callable[..., Any] = getattr(module, name)

        def paused(*args: Any, _real: Callable[..., Any] = real) -> Any:
            found = _real(*args)
            time.sleep(PAUSE)
            return found

        monkeypatch.setattr(module, name, paused)


def at_once(app: Flask, *requests: tuple[str, TenantAuth, dict[str, Any]]) -> list[Any]:
    """POST each (path, tenant, body) from its own thread, all released together."""
    barrier = threading.Barrier(len(requests))
    answers: list[Any] = [None] * len(requests)

    def send(index: int, path: str, who: TenantAuth, body: dict[str, Any]) -> None:
        client = app.test_client()
        barrier.wait(10)
        answers[index] = client.post(path, json=body, headers=who.headers)

    threads = [threading.Thread(target=send, args=(i, *request))
               for i, request in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return answers


def one_refused(answers: list[Any], field: str) -> None:
    assert sorted(a.status_code for a in answers) == [200, 400], [a.json for a in answers]
    (refused,) = [a for a in answers if a.status_code == 400]
    (error,) = refused.json["errors"]
    assert error["code"] == "VALIDATE_FAILED" and error["detail"] == {"field": field}


def test_an_extension_and_a_group_created_at_once_with_one_number(
    client: Any, acme: TenantAuth, monkeypatch: pytest.MonkeyPatch,
) -> None:
    slow_checks(monkeypatch)
    answers = at_once(client.application,
                      ("/api/extensions", acme, {"extension_number": "6000"}),
                      ("/api/ring_groups", acme, {**GROUP, "extension_number": "6000"}))
    one_refused(answers, "extension_number")
    listed = [client.get(path, headers=acme.headers).json["count"]
              for path in ("/api/extensions", "/api/ring_groups")]
    assert sum(listed) == 1


def test_groups_of_two_tenants_given_one_did_at_once(
    client: Any, acme: TenantAuth, globex: TenantAuth, monkeypatch: pytest.MonkeyPatch,
) -> None:
    slow_checks(monkeypatch)
    did = {**GROUP, "did_numbers": ["+14155550100"]}
    answers = at_once(client.application, ("/api/ring_groups", acme, did),
                      ("/api/ring_groups", globex, did))
    one_refused(answers, "did_numbers")
