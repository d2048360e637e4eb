"""ARI's dynamic PJSIP configuration, in memory, for the endpoint provisioning tests."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from bridge.asterisk.ari import AriError, AriRefused
from bridge.engine.endpoints import DYNAMIC

FOREVER = 10**9
REFUSAL = "Unable to create or update the object: invalid field"


class FakeConfigAri:
    """Objects PUT exist until DELETEd; `GET /endpoints/PJSIP` lists the endpoints, with
    `static` (pjsip.conf's, such as the demo extensions) among them.

    `refuse[endpoint id]`: how many more requests about that object Asterisk refuses (400).
    `invalid`: the (kind, endpoint id) whose every PUT Asterisk refuses (400).
    `globals`: Asterisk's global variables (`/asterisk/variable`), outside `requests`;
    `global_writes`: each write of one, (name, value).
    """

    def __init__(self, static: tuple[str, ...] = ()) -> None:
        self.objects: dict[tuple[str, str], dict[str, str]] = {}
        self.static = static
        self.refuse: dict[str, int] = {}
        self.invalid: set[tuple[str, str]] = set()
        self.requests: list[tuple[str, str, str]] = []
        self.connected = True
        self.refusing = False  # AriClient.refuse_requests(): ringbridge is stopping
        self.stop_after: int | None = None  # refuse from this many requests on
        self.refused = 0  # requests asked for while refusing
        self.globals: dict[str, str] = {}
        self.global_writes: list[tuple[str, str]] = []

    def _reachable(self, method: str, path: str) -> None:
        if not self.connected:
            raise AriError(0, method, path, "ConnectError: connection refused")
        if self.refusing:
            self.refused += 1
            raise AriRefused(method, path)

    async def request(self, method: str, path: str, *, params: Any = None,
                      json: Any = None) -> Any:
        self._reachable(method, path)
        kind, object_id = unquote(path.removeprefix(f"{DYNAMIC}/")).split("/", 1)
        self.requests.append((method, kind, object_id))
        self.refusing = len(self.requests) == self.stop_after
        if self.refuse.get(object_id, 0) > 0:
            self.refuse[object_id] -= 1
            raise AriError(400, method, path, REFUSAL)
        if method == "PUT" and (kind, object_id) in self.invalid:
            raise AriError(400, method, path, REFUSAL)
        if method == "PUT":
            self.objects[kind, object_id] = {f["attribute"]: f["value"] for f in json["fields"]}
        elif self.objects.pop((kind, object_id), None) is None:
            raise AriError(404, method, path, "Object not found")
        return None

    async def get(self, path: str, params: Any = None) -> Any:
        if path == "/asterisk/variable":
            self._reachable("GET", path)
            return {"value": self.globals.get(params["variable"], "")}
        if path == "/endpoints/PJSIP":
            return [{"technology": "PJSIP", "resource": name} for name in self.endpoints()]
        name = unquote(path.removeprefix("/endpoints/PJSIP/"))
        if name not in self.endpoints():
            raise AriError(404, "GET", path, "Endpoint not found")
        return {"technology": "PJSIP", "resource": name}

    async def post(self, path: str, params: Any = None, json: Any = None) -> Any:
        assert path == "/asterisk/variable", path
        self._reachable("POST", path)
        name, value = params["variable"], params.get("value", "")
        self.global_writes.append((name, value))
        if value:
            self.globals[name] = value
        else:
            self.globals.pop(name, None)

    def endpoints(self) -> list[str]:
        return [*self.static, *(name for kind, name in self.objects if kind == "endpoint")]
