"""sipp (Debian's sip-tester) as load for the tests and benchmarks: a phone that
authenticates, calls a number, talks a while and hangs up (sipp/uac_auth.xml), and
sipp's own UAS answering every call it gets."""

from __future__ import annotations

import contextlib
import csv
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from tests.support.asterisk import Asterisk
from tests.support.bridge_process import stop

SCENARIOS = Path(__file__).with_name("sipp")
SCENARIO = SCENARIOS / "uac_auth.xml"  # straight to Asterisk
# Through a proxy (a cluster's SIP edge): its 407 challenge, its Record-Route followed.
PROXY_SCENARIO = SCENARIOS / "uac_proxy_auth.xml"


def point_at_uas(asterisk: Asterisk, aor: str, port: int) -> None:
    """Calls to `aor` (`<number>@<domain>`) go to the sipp UAS on 127.0.0.1:`port`."""
    response = asterisk.ari("PUT", f"/asterisk/config/dynamic/res_pjsip/aor/"
                                   f"{quote(aor, safe='')}", json={
        "fields": [{"attribute": "contact", "value": f"sip:{aor.split('@')[0]}@127.0.0.1:"
                                                     f"{port}"},
                   {"attribute": "max_contacts", "value": "1"}]})
    response.raise_for_status()


UAS_STOP_WAIT = 5.0  # seconds the UAS gets to stop before it is killed


@contextlib.contextmanager
def answering(port: int) -> Iterator[None]:
    """sipp's UAS on 127.0.0.1:`port` for the block. Told to stop, sipp waits for its
    calls to end, and after a failed load step some never do: it is killed then, or it
    would hold the port and refuse the next run's calls."""
    uas = subprocess.Popen(["sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(port),
                            "-nostdin"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        stop(uas, UAS_STOP_WAIT)


def caller(registrar: str, users: Path, user: str, password: str, number: str, *,
           port: int, rate: int, calls: int, call_seconds: float,
           scenario: Path = SCENARIO) -> list[str]:
    """The sipp command for `calls` calls at `rate` calls/s from `user` (its line in the
    `users` file: users_file) to `number` at `registrar` (host:port), each talking
    `call_seconds` once answered; the caller adds its own limits and traces."""
    return ["sipp", registrar, "-sf", str(scenario), "-inf", str(users),
            "-au", user, "-ap", password, "-s", number, "-i", "127.0.0.1", "-p", str(port),
            "-r", str(rate), "-m", str(calls), "-d", str(int(call_seconds * 1000)),
            "-nostdin"]


def users_file(directory: Path, user: str, domain: str) -> Path:
    """sipp's injection file: every call from `user` of `domain`."""
    path = directory / "users.csv"
    path.write_text(f"SEQUENTIAL\n{user};{domain}\n")
    return path


def outcome(stats: Path) -> tuple[int, int]:
    """(successful, failed) calls, from the last row of sipp's statistics (-trace_stat)."""
    last = _statistics(stats)[-1]
    return int(last["SuccessfulCall(C)"]), int(last["FailedCall(C)"])


def placing_rate(stats: Path, calls: int) -> float:
    """Calls/s sipp actually placed, against `-r`, which it falls short of when the
    machine is saturated: `calls` over the time from its start to its last call placed.
    Its statistics come once a second (-trace_stat -fd 1): the moment of the last call
    is the last row before it, plus the calls left at the rate of the second before.
    0 when sipp wrote no statistics (it did not start)."""
    if not stats.exists():
        return 0.0
    rows = [(_epoch(row["CurrentTime"]), int(row["TotalCallCreated"]))
            for row in _statistics(stats)]
    start, (end, placed) = rows[0][0], rows[-1]
    if placed < calls:  # sipp gave up before placing them all
        return placed / (end - start)
    before = [(at, placed) for at, placed in rows if placed < calls]
    (earlier_at, earlier), (last_at, last) = [(start, 0), *before][-2:]
    if last == earlier:  # no second before the last call to take the rate from
        return calls / (next(at for at, placed in rows if placed >= calls) - start)
    return calls / (last_at + (calls - last) * (last_at - earlier_at) / (last - earlier)
                    - start)


def _statistics(stats: Path) -> list[dict[str, str]]:
    """sipp's statistics file (-trace_stat -stf): a row per period, oldest first."""
    return list(csv.DictReader(stats.read_text().splitlines(), delimiter=";"))


def _epoch(current_time: str) -> float:
    """sipp's `CurrentTime`: date, time and the Unix time, tab-separated."""
    return float(current_time.split()[-1])


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
