"""The cluster `scripts/cluster up` starts (docs/cluster.md), as the tests drive it: its
Asterisk nodes (ARI, AMI, kill -9), its ringbridge nodes (API and CLI, with each node's
own settings) and what its SIP edge says of the nodes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path

import docker

from tests.support.asterisk import ROOT, Asterisk
from tests.support.bridge_process import BridgeProcess

STATE = ROOT / "var" / "cluster"
EDGE = "127.0.0.10:5060"
ASTERISK_ADDRESSES = ("127.0.0.11", "127.0.0.12")
BRIDGE_ADDRESSES = ("127.0.0.21", "127.0.0.22")


def environment_file(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


@dataclass(frozen=True)
class Takeover:
    """Node 1 taking Asterisk node 2 over from a ringbridge node 2 that died, as node 1's
    log tells it: when (time.time()) it took the lease, when it ran it (ARI connected),
    and what it found (the ARI connected line's account)."""

    leased_at: float
    running_at: float
    found: str


LOGGED = r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO \[standby-1-1\] "


def logged_at(match: re.Match[str]) -> float:
    """The time.time() of a log line whose first group is its timestamp."""
    return datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()


class ClusterNode(BridgeProcess):
    """A ringbridge node the script started (this object never starts or stops it)."""

    def __init__(self, number: int, asterisk: Asterisk) -> None:
        directory = STATE / f"node-{number}"
        super().__init__(asterisk, directory, directory / "ringbridge.log")
        self.number = number

    @property
    def url(self) -> str:
        return f"http://{BRIDGE_ADDRESSES[self.number - 1]}:8887"

    def environment(self) -> dict[str, str]:
        return {**os.environ, **environment_file(self.workdir / "ringbridge.env")}

    @property
    def pid(self) -> int:
        """`ringbridge serve`'s, as the script started it."""
        return int((self.workdir / "ringbridge.pid").read_text())

    def serve_pid(self) -> int:
        return self.pid

    def kill_serve(self) -> int:
        """kill -9 of the `ringbridge serve` the script started (its processes die with
        it); its pid."""
        pid = self.pid
        os.kill(pid, signal.SIGKILL)
        return pid

    def took_over_asterisk_2(self, after: int, timeout: float = 10) -> Takeover:
        """Node 1's takeover of Asterisk node 2, logged past `after` characters."""
        leased = self.wait_log(LOGGED + r".*: engine 1 holds the lease on "
                               + re.escape(f"{ASTERISK_ADDRESSES[1]}:8088"), timeout, after)
        running = self.wait_log(LOGGED + r".*: ARI connected: (.*)", timeout, leased.end())
        return Takeover(logged_at(leased), logged_at(running), running.group(2))


class Cluster:
    def __init__(self) -> None:
        self._flood_requests: int | None = None

    def up(self, flood_requests: int | None = None) -> None:
        """Start what is not running; the edge drops an address's requests while it
        sends `flood_requests` or more in 2 s (else the limit of this cluster's last up,
        else edge.cfg's default). An edge running with another limit fails this: down()
        first."""
        if flood_requests is not None:
            self._flood_requests = flood_requests
        extra = ({} if self._flood_requests is None
                 else {"EDGE_FLOOD_REQUESTS": str(self._flood_requests)})
        self._script("up", extra)

    def down(self) -> None:
        self._script("down")

    def _script(self, command: str, environment: dict[str, str] | None = None) -> str:
        result = subprocess.run([str(ROOT / "scripts" / "cluster"), command], cwd=ROOT,
                                capture_output=True, text=True,
                                env={**os.environ, **(environment or {})})
        if result.returncode != 0:
            raise RuntimeError(f"scripts/cluster {command} failed:\n{result.stderr[-3000:]}")
        return result.stdout

    @cached_property
    def asterisks(self) -> tuple[Asterisk, Asterisk]:
        secrets = environment_file(STATE / "secrets.env")
        client = docker.from_env()
        nodes = []
        for number, address in enumerate(ASTERISK_ADDRESSES, start=1):
            name = f"ringbridge-cluster-asterisk-{number}"
            node = Asterisk(name=name, address=address, sip_port=5060, ari_port=8088,
                            ami_port=5038, ari_password=secrets["ARI_PASSWORD"],
                            ami_secret=secrets["AMI_SECRET"])
            node.container = client.containers.get(name)
            nodes.append(node)
        return nodes[0], nodes[1]

    @cached_property
    def nodes(self) -> tuple[ClusterNode, ClusterNode]:
        first, second = self.asterisks
        return ClusterNode(1, first), ClusterNode(2, second)

    def in_use(self) -> dict[str, bool]:
        """Each Asterisk node's address: whether the edge sends calls to it (dispatcher
        flags starting with A, active) or has taken it out."""
        listing = self.edge_command("dispatcher.list")
        return {address: flags.startswith("A") for address, flags in re.findall(
            r"URI: sip:([0-9.]+):5060\s+FLAGS: (\w+)", listing)}

    def taken_out(self, address: str, timeout: float = 30) -> float | None:
        """When (time.monotonic()) the edge took the node at `address` out of use,
        polled every 20 ms; None if it did not within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.in_use().get(address) is False:
                return time.monotonic()
            time.sleep(0.02)
        return None

    def set_in_use(self, address: str, use: bool) -> None:
        """Have the edge send calls to the Asterisk node at `address` (probed as before),
        or none at all (disabled: not probed either)."""
        self.edge_command("dispatcher.set_state", "ap" if use else "d", "1",
                          f"sip:{address}:5060")

    def edge_command(self, *command: str) -> str:
        """What the edge's control socket (kamcmd) answers to `command`."""
        return subprocess.run(["kamcmd", "-s", f"unix:{STATE / 'kamailio.ctl'}", *command],
                              capture_output=True, text=True, check=True).stdout

    def edge_log(self) -> str:
        """All the edge has logged (var/cluster/kamailio.log, kept across restarts)."""
        return (STATE / "kamailio.log").read_text(errors="replace")

    def kill_asterisk(self, number: int) -> None:
        """kill -9 of Asterisk node `number` (no shutdown, nothing hung up); it stays down
        until start_asterisk, as a machine that died."""
        container = self.asterisks[number - 1].container
        assert container is not None
        container.kill()

    def start_asterisk(self, number: int) -> None:
        container = self.asterisks[number - 1].container
        assert container is not None
        container.start()
