"""The Asterisk container for integration tests, driven with the docker SDK.

Tests get their own container, ports and freshly generated secrets, so they run
beside a `scripts/up` Asterisk without touching it. ``RINGBRIDGE_TEST_SLOT=N`` (0..8)
moves the container name, ports and test database so that test runs from several
checkouts can share one machine; ``ASTERISK_IMAGE`` names the image to build and run.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from io import BufferedIOBase
from pathlib import Path

import docker
import httpx
from docker.models.containers import Container

ROOT = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("ASTERISK_IMAGE", "ringbridge/asterisk:22")
SLOT = int(os.environ.get("RINGBRIDGE_TEST_SLOT", "0"))
DEMO_EXTENSIONS = [str(n) for n in range(1001, 1011)]
# How long a caller is held while no ringbridge runs, before the fallback (20 s in
# production): short, so that the fallback tests are quick; a test holding a caller
# across a start of ringbridge sets it longer (Asterisk.set_global).
STASIS_WAIT = 3


def ensure_image() -> None:
    """Build the image through the project's own script (cached: seconds when warm)."""
    subprocess.run(
        ["bash", "-c", "source scripts/lib/docker.sh && ensure_docker_engine && "
         "build_asterisk_image \"$PWD\""],
        cwd=ROOT, check=True,
    )


@dataclass
class Asterisk:
    name: str = f"ringbridge-test-asterisk{SLOT or ''}"
    sip_port: int = 5160 + 10 * SLOT
    ari_port: int = 8188 + 10 * SLOT
    ami_port: int = 5138 + 10 * SLOT
    app: str = "ringbridge"
    address: str = "127.0.0.1"  # where its SIP, ARI and AMI listen
    rtp_ports: tuple[int, int] = (31000 + 1000 * SLOT, 31999 + 1000 * SLOT)
    # The carrier trunk's far end (the test carrier UA): an address of its own, as a
    # real carrier's, and a fixed port, where Asterisk sends calls to the carrier.
    carrier_address: str = f"127.0.0.{100 + SLOT}"
    carrier_port: int = 5169 + 10 * SLOT
    ari_password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    ami_secret: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    prometheus_password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    sip_secrets: dict[str, str] = field(default_factory=lambda: {
        name: secrets.token_urlsafe(12) for name in DEMO_EXTENSIONS
    })
    container: Container | None = None

    @property
    def ari_url(self) -> str:
        return f"http://{self.address}:{self.ari_port}/ari"

    @property
    def registrar(self) -> str:
        return f"{self.address}:{self.sip_port}"

    def environment(self) -> dict[str, str]:
        return {
            "ARI_PASSWORD": self.ari_password, "AMI_SECRET": self.ami_secret,
            "PROMETHEUS_PASSWORD": self.prometheus_password,
            "SIP_SECRETS": " ".join(f"{k}={v}" for k, v in self.sip_secrets.items()),
            "SIP_PORT": str(self.sip_port), "SIP_BIND": "127.0.0.1",
            "ARI_PORT": str(self.ari_port), "AMI_PORT": str(self.ami_port),
            "RTP_START": str(self.rtp_ports[0]), "RTP_END": str(self.rtp_ports[1]),
            "BRIDGE_APP": self.app, "CARRIER_ADDRESSES": self.carrier_address,
            "CARRIER_CONTACT": f"sip:{self.carrier_address}:{self.carrier_port}",
            "STASIS_WAIT": str(STASIS_WAIT),
        }

    def start(self) -> None:
        self.launch()
        self.wait_ready()

    def launch(self) -> None:
        """Run a new container (in place of one of the same name), without waiting."""
        client = docker.from_env()
        with contextlib.suppress(docker.errors.NotFound):
            client.containers.get(self.name).remove(force=True)
        self.container = client.containers.run(
            IMAGE, name=self.name, network_mode="host", environment=self.environment(),
            detach=True,
        )

    def wait_ready(self, timeout: float = 30, poll: float = 0.1) -> None:
        """Wait until ARI answers with this container's credentials."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.ari("GET", "/asterisk/info").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(poll)
        raise TimeoutError(f"Asterisk ARI not ready in {timeout} s:\n{self.logs()[-3000:]}")

    def restart(self) -> None:
        assert self.container is not None
        self.container.restart(timeout=5)
        self.wait_ready()

    def crash(self) -> None:
        """kill -9 of Asterisk (no shutdown: nothing is hung up, no event is sent), then
        start it again."""
        assert self.container is not None
        self.container.kill()
        self.container.start()
        self.wait_ready()

    def stop(self) -> None:
        if self.container is not None:
            self.container.remove(force=True)
            self.container = None

    def logs(self) -> str:
        return self.container.logs().decode(errors="replace") if self.container else ""

    def ari(self, method: str, path: str, json: object = None) -> httpx.Response:
        return httpx.request(method, self.ari_url + path,
                             auth=("ringbridge", self.ari_password), timeout=5, json=json)

    def ami(self, action: Mapping[str, str]) -> list[dict[str, str]]:
        """One AMI action on a connection of its own: its response (`Response: Error` too),
        and for an event list (`PJSIPShowContacts`...) the events up to the `...Complete`
        one."""
        with socket.create_connection((self.address, self.ami_port), timeout=5) as sock:
            stream = sock.makefile("rwb")
            stream.readline()  # the banner
            login = _ami_send(stream, {"Action": "Login", "Username": "ringbridge",
                                       "Secret": self.ami_secret})
            assert login[0].get("Response") == "Success", login
            return _ami_send(stream, action)

    def set_global(self, name: str, value: str) -> None:
        """Set a dialplan global variable (e.g. STASIS_WAIT) until the container restarts."""
        (answer,) = self.ami({"Action": "Setvar", "Variable": name, "Value": value})
        assert answer.get("Response") == "Success", answer

    def global_value(self, name: str) -> str:
        """A dialplan global variable's value ("" when it is not set)."""
        answer = self.ari("GET", f"/asterisk/variable?variable={name}")
        answer.raise_for_status()
        return str(answer.json()["value"])

    def cli(self, command: str) -> str:
        assert self.container is not None
        output = self.container.exec_run(["asterisk", "-rx", command]).output
        assert isinstance(output, bytes)  # not streamed: the whole output at once
        return output.decode(errors="replace")


def _ami_send(stream: BufferedIOBase, action: Mapping[str, str]) -> list[dict[str, str]]:
    """Send `action`; the messages answering it (other traffic, such as events, skipped)."""
    action_id = secrets.token_hex(4)
    stream.write("".join(f"{k}: {v}\r\n" for k, v in {**action, "ActionID": action_id}
                         .items()).encode() + b"\r\n")
    stream.flush()
    answer: list[dict[str, str]] = []
    while True:
        message: dict[str, str] = {}
        for line in iter(stream.readline, b"\r\n"):
            if not line:
                raise ConnectionError(f"AMI closed the connection; read {answer}")
            name, _, value = line.decode(errors="replace").partition(":")
            message[name.strip()] = value.strip()
        if message.get("ActionID") != action_id:
            continue
        answer.append(message)
        if answer[0].get("EventList") != "start" or message.get("EventList") == "Complete":
            return answer
