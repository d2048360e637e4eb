"""Helpers for ring group tests: a tenant with extensions and phones, groups via the API."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, Self

from tests.integration.conftest import PhoneFactory
from tests.support.bridge_process import BridgeProcess
from tests.support.softphone import IncomingPolicy, Phone


@dataclass
class Office:
    """A tenant made through the CLI, with extensions and phones made through the API."""

    bridge: BridgeProcess
    phone_factory: PhoneFactory
    company: str = field(default_factory=lambda: f"office{secrets.token_hex(3)}")
    token: str = ""
    passwords: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)  # extension ids by number
    sip_domain: str = ""
    region: str = "US"

    @property
    def domain(self) -> str:
        return self.sip_domain or f"{self.company}.example"

    def create(self) -> Self:
        self.bridge.cli("tenants", "create", "--company-id", self.company, "--sip-domain",
                        self.domain, "--region", self.region)
        self.token = self.bridge.cli("tokens", "create", "--tenant", self.company).strip()
        return self

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.bridge.api(method, path, self.token, **kwargs)
        assert response.status_code < 300, f"{method} {path}: {response.text}"
        return response.json() if response.content else None

    def extension(self, number: str, **fields: Any) -> str:
        created = self.api("POST", "/api/extensions",
                           json={"extension_number": number, **fields})
        shown = self.api("GET", f"/api/extensions/{created['id']}")
        self.passwords[number] = shown["password"]
        self.ids[number] = str(created["id"])
        return self.ids[number]

    def phone(self, number: str, policy: IncomingPolicy | None = None) -> Phone:
        if number not in self.passwords:
            self.extension(number)
        return self.phone_factory(number, policy, password=self.passwords[number],
                                  domain=self.domain)

    def group(self, number: str, members: list[str] | list[tuple[str, int]],
              **fields: Any) -> str:
        body = {"name": f"group {number}", "extension_number": number, **fields}
        group_id = str(self.api("POST", "/api/ring_groups", json=body)["id"])
        items = [{"extension_number": m} if isinstance(m, str)
                 else {"extension_number": m[0], "skill_level": m[1]} for m in members]
        self.api("POST", f"/api/ring_groups/{group_id}/agents", json={"items": items})
        return group_id
