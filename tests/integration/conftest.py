"""Integration fixtures: a real Asterisk 22 container, ringbridge as a process, softphones."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.asterisk import ROOT, Asterisk, ensure_image
from tests.support.bridge_process import BridgeProcess
from tests.support.softphone import IncomingPolicy, Phone, SipStack


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.path):
            item.add_marker(pytest.mark.integration)


LOG_DIR = ROOT / "var" / "test-logs"


@pytest.fixture(scope="session")
def asterisk() -> Iterator[Asterisk]:
    """One Asterisk container for the whole session; its log is kept in var/test-logs."""
    ensure_image()
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    instance = Asterisk()
    instance.start()
    yield instance
    (LOG_DIR / "asterisk.log").write_text(instance.logs())
    instance.stop()


@pytest.fixture(scope="session")
def bridge_process(asterisk: Asterisk, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[BridgeProcess]:
    workdir = Path(tmp_path_factory.mktemp("ringbridge"))
    (LOG_DIR / "ringbridge.log").unlink(missing_ok=True)
    process = BridgeProcess(asterisk, workdir, log_path=LOG_DIR / "ringbridge.log")
    process.start()
    yield process
    process.stop()


@pytest.fixture
def bridge(bridge_process: BridgeProcess) -> BridgeProcess:
    """ringbridge running and healthy (restarted if an earlier test stopped it)."""
    if bridge_process.process is None:
        bridge_process.start()
    bridge_process.wait_healthy()
    return bridge_process


@pytest.fixture
def asterisk_restart(asterisk: Asterisk, bridge: BridgeProcess) -> Callable[[], None]:
    """Restart Asterisk and wait until ringbridge has reconnected and resynced."""

    def restart() -> None:
        seen = len(bridge.log())
        asterisk.restart()
        bridge.wait_log(r"ARI connected:", timeout=30, after=seen)
        bridge.wait_healthy()

    return restart


PhoneFactory = Callable[..., Phone]


@pytest.fixture
def phone(sip_stack: SipStack, asterisk: Asterisk) -> Iterator[PhoneFactory]:
    """`phone("1001")` registers demo extension 1001 (or, with `password` and `domain`,
    an extension made through the API); all are closed afterwards."""
    made: list[Phone] = []

    def make(username: str, policy: IncomingPolicy | None = None, *,
             password: str | None = None, domain: str = "127.0.0.1",
             register: bool = True) -> Phone:
        phone = sip_stack.phone(
            username, password or asterisk.sip_secrets[username], domain=domain,
            registrar=asterisk.registrar, register=register,
            policy=IncomingPolicy.RING if policy is None else policy,
        )
        made.append(phone)
        return phone

    yield make
    for each in made:
        each.close()


@pytest.fixture
def trunk(sip_stack: SipStack, asterisk: Asterisk) -> Iterator[PhoneFactory]:
    """`trunk("+447700900123")`: the far end of the carrier trunk, sending calls the way
    real carriers do: from the trunk's own address and port, never registering, the
    caller in From (P-Asserted-Identity as the test adds it). Calls out through the
    trunk arrive at it too. One at a time: they share that address and port."""
    made: list[Phone] = []

    def make(caller: str = "+14155550000", *, domain: str | None = None,
             address: str | None = None) -> Phone:
        """`address`: somewhere else than the trunk's (a caller that is no carrier)."""
        phone = sip_stack.phone(
            caller, domain=domain or asterisk.carrier_address, registrar=asterisk.registrar,
            register=False, address=address or asterisk.carrier_address,
            port=0 if address else asterisk.carrier_port)
        made.append(phone)
        return phone

    yield make
    for each in made:
        each.close()
