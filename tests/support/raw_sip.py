"""SIP requests written by hand over UDP, for what no well-behaved user agent sends: a
stranger's request, a wrong password, a digest answered from another address, a forged
source address."""

from __future__ import annotations

import hashlib
import re
import secrets
import socket
import struct
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from tests.support.softphone import parse_sip_message


class UdpAgent:
    """Sends to `destination` (host:port) from `sock`, and reads what comes back."""

    def __init__(self, sock: socket.socket, destination: str) -> None:
        self._sock = sock
        to_host, to_port = destination.rsplit(":", 1)
        self._destination = (to_host, int(to_port))
        host, port = sock.getsockname()
        self.here = f"{host}:{port}"
        self.sender = ""  # where the last message read came from (host:port)

    def send(self, message: str) -> None:
        self._sock.sendto(message.encode(), self._destination)

    def answer(self, final: bool = False, timeout: float = 5) -> str | None:
        """The next message that comes (with `final`, the next that is no provisional
        answer), or None when none comes within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            self._sock.settimeout(left)
            try:
                data, (host, port) = self._sock.recvfrom(65536)
            except TimeoutError:
                return None
            message, self.sender = data.decode(), f"{host}:{port}"
            if not final or not message.startswith("SIP/2.0 1"):
                return message
        return None


@contextmanager
def listener(source: str = "127.0.0.1", timeout: float | None = None
             ) -> Iterator[socket.socket]:
    """A fresh UDP socket bound to `source` (any free port), reads timing out after
    `timeout` seconds."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.settimeout(timeout)
        yield sock


@contextmanager
def udp_agent(destination: str, source: str = "127.0.0.1") -> Iterator[UdpAgent]:
    """A UdpAgent on a fresh socket bound to `source` (any free port)."""
    with listener(source) as sock:
        yield UdpAgent(sock, destination)


def forged(source: str, destination: str, message: str) -> None:
    """Send `message` over UDP to `destination` as if from `source` (both host:port), as
    anyone can on a network without anti-spoofing: the IP header written by hand on a
    raw socket (root only)."""
    from_host, from_port = source.rsplit(":", 1)
    to_host, to_port = destination.rsplit(":", 1)
    payload = message.encode()
    datagram = struct.pack("!HHHH", int(from_port), int(to_port), 8 + len(payload), 0)
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(datagram) + len(payload), 0, 0,
                         64, socket.IPPROTO_UDP, 0, socket.inet_aton(from_host),
                         socket.inet_aton(to_host))
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW) as raw:
        raw.sendto(header + datagram + payload, (to_host, 0))


def stranger_request(here: str, method: str, request_uri: str, *, to_tag: str = "",
                     routes: Sequence[str] = (), call_id: str = "") -> str:
    """A `method` request to `request_uri` with no credentials, as sent from `here`
    (host:port), through `routes` if any."""
    route = [f"Route: {', '.join(f'<{hop}>' for hop in routes)}"] if routes else []
    return "\r\n".join([
        f"{method} {request_uri} SIP/2.0", f"Via: SIP/2.0/UDP {here};branch={branch()};rport",
        *route, "Max-Forwards: 70", f"From: <sip:stranger@{here}>;tag=a1",
        f"To: <{request_uri}>{to_tag}", f"Call-ID: {call_id or secrets.token_hex(8)}",
        f"CSeq: 1 {method}", f"Contact: <sip:stranger@{here}>", "Content-Length: 0", "", ""])


def branch() -> str:
    """A Via branch of RFC 3261's form, new for each request."""
    return f"z9hG4bK-{secrets.token_hex(6)}"


def digest_response(user: str, realm: str, password: str, method: str, uri: str,
                    nonce: str) -> str:
    """RFC 2617's digest response with MD5 and no qop."""
    ha1 = _md5(f"{user}:{realm}:{password}")
    return _md5(f"{ha1}:{nonce}:{_md5(f'{method}:{uri}')}")


def digest_answer(challenge: str, method: str, uri: str, user: str, password: str) -> str:
    """The header answering the WWW- or Proxy-Authenticate of the `challenge` (a 401 or
    407 as received)."""
    realm = _parameter(challenge, "realm")
    nonce = _parameter(challenge, "nonce")
    response = digest_response(user, realm, password, method, uri, nonce)
    name = "Proxy-Authorization" if challenge.startswith("SIP/2.0 407") else "Authorization"
    return (f'{name}: Digest username="{user}", realm="{realm}", nonce="{nonce}", '
            f'uri="{uri}", response="{response}", algorithm=MD5')


@dataclass
class HandPhone:
    """`user`@`domain` as a phone whose requests are written by hand, sent from `agent`
    (one Call-ID and From tag for all, as a phone answering challenges keeps them)."""

    agent: UdpAgent
    user: str
    domain: str
    call_id: str = field(default_factory=lambda: secrets.token_hex(8))
    tag: str = field(default_factory=lambda: secrets.token_hex(4))
    cseq: int = 0

    def request(self, method: str, callee: str = "", challenge: str | None = None,
                password: str = "", timeout: float = 5, extra: Sequence[str] = ()
                ) -> str | None:
        """The final answer to a REGISTER (that removes this socket's binding) or an
        INVITE of `callee`, with `challenge` answered with `password` if given and the
        `extra` header lines; None if there is none within `timeout` seconds."""
        assert (method == "INVITE") == bool(callee), "an INVITE, and only an INVITE, calls"
        uri = f"sip:{callee}@{self.domain}" if callee else f"sip:{self.domain}"
        self.cseq += 1
        lines = [f"{method} {uri} SIP/2.0", *self._dialog(method),
                 f"To: <{uri if callee else f'sip:{self.user}@{self.domain}'}>",
                 f"Contact: <sip:{self.user}@{self.agent.here}>"]
        if method == "REGISTER":
            lines.append("Expires: 0")
        if challenge:
            lines.append(digest_answer(challenge, method, uri, self.user, password))
        lines.extend(extra)
        self.agent.send("\r\n".join([*lines, "Content-Length: 0", "", ""]))
        return self.agent.answer(final=True, timeout=timeout)

    def acknowledge(self, ok: str) -> str | None:
        """Acknowledge the INVITE's 200 `ok` without the answer its offer asks for (no
        SDP), which ends the call at the node at once: the node's BYE, answered, or what
        came instead (None for nothing)."""
        _, answered = parse_sip_message(ok)
        target = re.search(r"<([^>]*)>", answered["Contact"])
        assert target, ok
        routes = reversed(answered.get("Record-Route", "").split(", "))
        self.agent.send("\r\n".join([
            f"ACK {target.group(1)} SIP/2.0", *self._dialog("ACK"), f"To: {answered['To']}",
            *(f"Route: {hop}" for hop in routes if hop), "Content-Length: 0", "", ""]))
        bye = self.agent.answer()
        if bye is None or not bye.startswith("BYE "):
            return bye
        _, request = parse_sip_message(bye)
        self.agent.send("\r\n".join([
            "SIP/2.0 200 OK", *(f"{name}: {request[name]}" for name in
                                ("Via", "From", "To", "Call-ID", "CSeq")),
            "Content-Length: 0", "", ""]))
        return bye

    def _dialog(self, method: str) -> list[str]:
        return [f"Via: SIP/2.0/UDP {self.agent.here};branch={branch()};rport",
                "Max-Forwards: 70", f"From: <sip:{self.user}@{self.domain}>;tag={self.tag}",
                f"Call-ID: {self.call_id}", f"CSeq: {self.cseq} {method}"]


def _parameter(challenge: str, name: str) -> str:
    found = re.search(rf'\b{name}="([^"]*)"', challenge)
    assert found, f"no {name} in {challenge!r}"
    return found.group(1)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()
