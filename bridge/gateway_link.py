"""Where the API's processes reach the engine's: a unix socket and a key.

The gateway's calls cross as pickled `(method, args)` over `multiprocessing.connection`
(length-framed messages; HMAC challenge on connect). Only a peer holding the key, made
fresh by `ringbridge serve` and inherited by the processes it forks, gets past the
challenge, and the socket lives in a directory only this user can enter. Measured in
docs/processes.md: a round trip costs about 0.1 ms.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bridge.gateway import EngineGateway

# Every method of the Protocol, and nothing else, may be called across.
GATEWAY_CALLS = frozenset(name for name in vars(EngineGateway) if not name.startswith("_"))
KEY_BYTES = 32


@dataclass(frozen=True)
class GatewayLink:
    address: str  # the engine's unix socket
    key: bytes

    @classmethod
    def create(cls) -> GatewayLink:
        """A socket path in a new private directory, and a new key."""
        directory = tempfile.mkdtemp(prefix="ringbridge-")  # mode 0700
        return cls(str(Path(directory) / "engine.sock"), os.urandom(KEY_BYTES))

    def remove(self) -> None:
        shutil.rmtree(Path(self.address).parent, ignore_errors=True)
