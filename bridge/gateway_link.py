"""Where the API's processes reach the engine's: a unix socket and a key (and, in a
cluster, where one node's engines reach another's: host:port and the cluster's key,
docs/cluster.md; the paragraphs below are about the unix sockets).

The gateway's calls cross as pickled `(method, args)` over `multiprocessing.connection`
(length-framed messages; HMAC challenge on connect, then each message signed:
bridge/signed_link.py). Only a peer holding the key, made fresh by `ringbridge serve`
and inherited by the processes it forks, gets past the challenge, and the socket lives
in a directory only this user can enter. Measured in
docs/processes.md: a round trip costs about 0.1 ms.

Each engine process has a socket of its own; all share the key. `ringbridge` commands run
by the same user (or root) find the links in the file `serve` publishes (`link_file`),
readable by its owner only, as asterisk.ctl is.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bridge.gateway import EngineGateway

HANDSHAKE_SECONDS = 5.0  # a peer that connects and says nothing is dropped after this
# Every method of the Protocol, and nothing else, may be called across.
GATEWAY_CALLS = frozenset(name for name in vars(EngineGateway) if not name.startswith("_"))
KEY_BYTES = 32
PREFIX = "ringbridge-link-"  # then the pid of the `ringbridge serve` that made it


@dataclass(frozen=True)
class GatewayLink:
    """An engine's unix socket (this node's), or the host:port another cluster node's
    engine listens on (docs/cluster.md); the key either way."""

    address: str
    key: bytes

    @property
    def over_tcp(self) -> bool:
        return not self.address.startswith("/")

    def host_and_port(self) -> tuple[str, int]:
        host, _, port = self.address.rpartition(":")
        return host.strip("[]"), int(port)


@dataclass(frozen=True)
class GatewayLinks:
    """Every engine's link: sockets in one private directory, one key for all."""

    links: tuple[GatewayLink, ...]

    @classmethod
    def create(cls, engines: int = 1) -> GatewayLinks:
        """A socket path per engine (engine-1.sock...) in a new private directory, and a
        new key. Directories left by a `ringbridge serve` killed with -9 (its pid gone)
        are removed first."""
        remove_orphaned(Path(tempfile.gettempdir()))
        directory = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))  # mode 0700
        key = os.urandom(KEY_BYTES)
        return cls(tuple(GatewayLink(str(directory / f"engine-{number}.sock"), key)
                         for number in range(1, engines + 1)))

    def remove(self) -> None:
        shutil.rmtree(Path(self.links[0].address).parent, ignore_errors=True)

    def publish(self, path: Path) -> None:
        """Write the links where commands look for them: whole (a temporary file renamed
        into place), readable by this user only."""
        record = {"addresses": [link.address for link in self.links],
                  "key": self.links[0].key.hex(), "pid": os.getpid()}
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
                       "w") as file:
            json.dump(record, file)
        os.replace(temporary, path)

    def unpublish(self, path: Path) -> None:
        """Remove the published links if they are still these (a later serve's stay)."""
        if published(path) == self:
            path.unlink(missing_ok=True)


def published(path: Path) -> GatewayLinks | None:
    """The links a running `ringbridge serve` published at `path`; None if there are
    none, or if the serve that wrote them is gone (killed with -9)."""
    try:
        record = json.loads(path.read_text())
        key = bytes.fromhex(record["key"])
        links = GatewayLinks(tuple(GatewayLink(str(address), key)
                                   for address in record["addresses"]))
        pid = int(record["pid"])
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a ringbridge link file: {exc}") from exc
    return links if links.links and _running(pid) else None



def remove_orphaned(parent: Path) -> None:
    """This user's link directories in `parent` whose `ringbridge serve` is gone."""
    for directory in parent.glob(f"{PREFIX}*-*"):
        pid = directory.name.removeprefix(PREFIX).partition("-")[0]
        if (pid.isdigit() and not _running(int(pid))
                and directory.stat().st_uid == os.getuid()):
            shutil.rmtree(directory, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: running
        pass
    return True


def wait_at_most(sock: socket.socket, seconds: float) -> None:
    """Reads and writes on the blocking `sock` fail after `seconds` (0: wait as long as it
    takes). Set around the key's challenge: `Connection` reads the descriptor itself, so
    a socket timeout would not hold, and a peer that connects and stays silent must not
    hold a thread for ever."""
    value = struct.pack("ll", int(seconds), int(seconds % 1 * 1_000_000))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)
