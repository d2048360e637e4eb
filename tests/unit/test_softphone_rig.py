"""The pjsua2 softphone rig, without Asterisk: phones call each other by URI over loopback."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.raw_sip import digest_response
from tests.support.softphone import (
    MAX_PHONES,
    CallEndedError,
    IncomingPolicy,
    Phone,
    RegistrationError,
    SipStack,
    parse_sip_message,
    sip_uri_user,
)

PhoneFactory = Callable[..., Phone]


@pytest.fixture(scope="module")
def stack() -> Iterator[SipStack]:
    """The process's running SipStack if a session fixture made one, else one for this module."""
    shared = SipStack.active()
    if shared is not None:
        yield shared
        return
    own = SipStack()
    own.start()
    yield own
    own.stop()


@pytest.fixture
def make_phone(stack: SipStack) -> Iterator[PhoneFactory]:
    """`make_phone("alice")` makes a phone without registrar; all are closed afterwards."""
    made: list[Phone] = []

    def make(username: str, password: str | None = None, **options: Any) -> Phone:
        options.setdefault("registrar", None)
        phone = stack.phone(username, password, **options)
        made.append(phone)
        return phone

    yield make
    for phone in made:
        phone.close()


@pytest.fixture
def alice(make_phone: PhoneFactory) -> Phone:
    return make_phone("alice")


@pytest.fixture
def bob(make_phone: PhoneFactory) -> Phone:
    return make_phone("bob")


# --------------------------------------------------------------------------- calls


def test_a_ringing_call_answered_is_confirmed_on_both_sides(alice: Phone, bob: Phone) -> None:
    outgoing = alice.call(bob.uri)
    incoming = bob.wait_incoming()
    outgoing.wait_ringing()
    assert (outgoing.state, incoming.state) == ("early", "early")
    assert outgoing.last_status == 180

    incoming.answer()
    outgoing.wait_answered()
    incoming.wait_answered()

    assert (outgoing.state, incoming.state) == ("confirmed", "confirmed")
    assert (outgoing.direction, incoming.direction) == ("out", "in")
    assert "sip:alice@" in incoming.from_header
    assert incoming.request_uri == bob.uri
    assert incoming.sip_call_id and incoming.sip_call_id == outgoing.sip_call_id
    assert outgoing.arrived_at <= incoming.arrived_at


@pytest.mark.parametrize(
    ("policy", "status"), [(IncomingPolicy.BUSY, 486), (IncomingPolicy.REJECT(603), 603)]
)
def test_a_refusing_phone_ends_the_call_with_its_status(
    alice: Phone, bob: Phone, policy: IncomingPolicy, status: int
) -> None:
    bob.policy = policy
    outgoing = alice.call(bob.uri)
    outgoing.wait_disconnected()

    assert outgoing.last_status == status
    assert bob.wait_incoming().state == "disconnected"
    with pytest.raises(CallEndedError):
        outgoing.wait_ringing()  # refused without a 180 first


@pytest.mark.parametrize("who_hangs_up", ["caller", "callee"])
def test_hanging_up_on_either_side_ends_both(alice: Phone, bob: Phone, who_hangs_up: str) -> None:
    bob.policy = IncomingPolicy.ANSWER
    outgoing = alice.call(bob.uri)
    incoming = bob.wait_incoming()
    outgoing.wait_answered()

    ending, other = (outgoing, incoming) if who_hangs_up == "caller" else (incoming, outgoing)
    ending.hangup()
    other.wait_disconnected()
    ending.wait_disconnected()
    assert (outgoing.state, incoming.state) == ("disconnected", "disconnected")


def test_cancelling_a_ringing_call_gives_487(alice: Phone, bob: Phone) -> None:
    outgoing = alice.call(bob.uri)
    incoming = bob.wait_incoming()
    outgoing.wait_ringing()

    outgoing.hangup()
    incoming.wait_disconnected()
    outgoing.wait_disconnected()
    assert outgoing.last_status == 487


def test_an_ignoring_phone_sends_only_trying(alice: Phone, bob: Phone) -> None:
    bob.policy = IncomingPolicy.IGNORE
    outgoing = alice.call(bob.uri)
    incoming = bob.wait_incoming()

    with pytest.raises(TimeoutError):
        outgoing.wait_ringing(timeout=0.3)
    assert (outgoing.state, incoming.state) == ("calling", "incoming")

    outgoing.hangup()  # CANCEL is possible: the 100 Trying was sent
    incoming.wait_disconnected()
    assert incoming.last_status == 487


def test_answer_after_rings_first_then_answers(alice: Phone, bob: Phone) -> None:
    bob.policy = IncomingPolicy.ANSWER_AFTER(0.6)
    outgoing = alice.call(bob.uri)
    outgoing.wait_ringing()
    incoming = bob.wait_incoming()
    assert incoming.state == "early"

    outgoing.wait_answered(timeout=3)
    assert time.monotonic() - incoming.arrived_at >= 0.6


def test_answer_policy_answers_at_once(alice: Phone, bob: Phone) -> None:
    bob.policy = IncomingPolicy.ANSWER
    outgoing = alice.call(bob.uri)
    outgoing.wait_answered(timeout=2)

    assert time.monotonic() - outgoing.arrived_at < 0.5
    outgoing.wait_ringing(timeout=0)  # the 180 came before the 200


def test_dtmf_goes_both_ways(alice: Phone, bob: Phone) -> None:
    bob.policy = IncomingPolicy.ANSWER
    outgoing = alice.call(bob.uri)
    incoming = bob.wait_incoming()
    outgoing.wait_answered()
    incoming.wait_answered()

    outgoing.send_dtmf("159#")
    incoming.wait_dtmf("159#")
    incoming.send_dtmf("*0")
    outgoing.wait_dtmf("*0")

    assert (incoming.received_dtmf, outgoing.received_dtmf) == ("159#", "*0")


def test_headers_given_to_call_reach_the_callee(alice: Phone, bob: Phone) -> None:
    headers = {
        "P-Asserted-Identity": '"Taxi Line" <sip:+442071234567@carrier.example>',
        "Remote-Party-ID": "<sip:+442071234567@carrier.example>;party=calling",
        "Call-Info": "<http://127.0.0.1/ride/42>;purpose=info",
        "Alert-Info": "<http://127.0.0.1/ring>;info=alert-external",
        "X-Ride-Id": "ride-42",
    }
    alice.call(bob.uri, headers=headers)
    received = bob.wait_incoming().invite_headers

    for name, value in headers.items():
        assert received[name.upper()] == value
        assert received[name.lower()] == value
    assert received.get("x-ride-id") == "ride-42"
    assert "X-Ride-Id" in list(received)
    assert "sip:bob@127.0.0.1" in received["To"] and "sip:alice@" in received["From"]


def test_rtp_flows_both_ways_once_answered(alice: Phone, bob: Phone) -> None:
    outgoing = alice.call(bob.uri)
    incoming = bob.wait_incoming()
    outgoing.wait_ringing()
    assert (outgoing.rtp_received(), incoming.rtp_received()) == (0, 0)

    incoming.answer()
    outgoing.wait_answered()
    time.sleep(1.0)  # talk for a second: 20 ms packets, about 50 each way
    heard_by_caller, heard_by_callee = outgoing.rtp_received(), incoming.rtp_received()
    assert heard_by_caller > 20 and heard_by_callee > 20

    outgoing.hangup()
    incoming.wait_disconnected()
    assert incoming.rtp_received() >= heard_by_callee  # still known once the call is over


def test_wait_incoming_for_finds_the_dialled_number_on_the_right_phone(
    make_phone: PhoneFactory,
) -> None:
    caller, carrier, bystander = make_phone("caller"), make_phone("carrier"), make_phone("ext")
    caller.call(f"sip:999@127.0.0.1:{carrier.port}")
    caller.call(f"sip:+442071234567@127.0.0.1:{carrier.port}")

    wanted = carrier.wait_incoming_for("+442071234567")
    assert wanted.request_user == "+442071234567"
    assert carrier.wait_incoming().request_user == "999"  # the one not handed out yet
    assert caller.incoming == [] and bystander.incoming == []


# --------------------------------------------------------------------------- failures


def test_waits_time_out_with_a_message_naming_phone_and_state(alice: Phone, bob: Phone) -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"bob \(sip:bob@127\.0\.0\.1:\d+\): no incoming call"):
        bob.wait_incoming(timeout=0.2)
    assert time.monotonic() - started >= 0.2

    outgoing = alice.call(bob.uri)
    outgoing.wait_ringing()
    with pytest.raises(TimeoutError, match=r"alice out .* state=early .* reach state 'confirmed'"):
        outgoing.wait_answered(timeout=0.2)


def test_waiting_on_a_call_that_is_over_fails_at_once(alice: Phone, bob: Phone) -> None:
    bob.policy = IncomingPolicy.BUSY
    outgoing = alice.call(bob.uri)
    outgoing.wait_disconnected()

    started = time.monotonic()
    with pytest.raises(CallEndedError, match="Busy Here"):
        outgoing.wait_answered(timeout=5)
    assert time.monotonic() - started < 1


def test_commands_on_a_call_that_is_over_are_refused(alice: Phone, bob: Phone) -> None:
    outgoing = alice.call(bob.uri)
    incoming = bob.wait_incoming()
    outgoing.hangup()
    incoming.wait_disconnected()

    with pytest.raises(RuntimeError, match="is over"):
        incoming.answer()
    with pytest.raises(RuntimeError, match="is over"):
        outgoing.send_dtmf("1")
    incoming.hangup()  # hanging up what is over is allowed, and does nothing


def test_a_second_stack_in_the_process_is_refused(stack: SipStack) -> None:
    with pytest.raises(RuntimeError, match="already running"):
        SipStack().start()
    assert SipStack.active() is stack


def test_close_gives_back_one_of_the_phone_slots(make_phone: PhoneFactory) -> None:
    made: list[Phone] = []
    with pytest.raises(RuntimeError, match=f"room for {MAX_PHONES} phones"):
        for number in range(MAX_PHONES + 1):
            made.append(make_phone(f"p{number}"))
    assert 0 < len(made) <= MAX_PHONES

    made[-1].close()
    assert make_phone("again").port > 0


# --------------------------------------------------------------------------- registration


class FakeRegistrar:
    """A UDP registrar that answers REGISTERs with a fixed status, optionally after a challenge.

    ``status=None`` answers nothing.
    """

    REALM, NONCE = "rig", "n0nce"

    def __init__(self, status: int | None = 200, *, challenge: bool = False) -> None:
        self.status = status
        self.challenge = challenge
        self.requests: list[str] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self.address = f"127.0.0.1:{self._sock.getsockname()[1]}"
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._closed.set()
        self._thread.join()
        self._sock.close()

    def _serve(self) -> None:
        while not self._closed.is_set():
            try:
                data, peer = self._sock.recvfrom(65535)
            except TimeoutError:
                continue
            request = data.decode()
            self.requests.append(request)
            response = self._answer(request)
            if response:
                self._sock.sendto(response.encode(), peer)

    def _answer(self, request: str) -> str | None:
        _, headers = parse_sip_message(request)
        if self.challenge and "Authorization" not in headers:
            status, extra = (
                401,
                [
                    f'WWW-Authenticate: Digest realm="{self.REALM}", nonce="{self.NONCE}", '
                    "algorithm=MD5"
                ],
            )
        elif self.status is None:
            return None
        else:
            expires = headers.get("Expires", "60")
            status, extra = self.status, [f"Expires: {expires}"]
            if self.status == 200 and expires != "0":
                extra.append(f"Contact: {headers['Contact']};expires={expires}")
        lines = [
            f"SIP/2.0 {status} Whatever",
            *(f"{name}: {headers[name]}" for name in ("Via", "From", "Call-ID", "CSeq")),
            f"To: {headers['To']};tag=reg",
            *extra,
            "Content-Length: 0",
        ]
        return "\r\n".join(lines) + "\r\n\r\n"


@pytest.fixture
def registrar() -> Iterator[Callable[..., FakeRegistrar]]:
    made: list[FakeRegistrar] = []

    def make(status: int | None = 200, *, challenge: bool = False) -> FakeRegistrar:
        made.append(FakeRegistrar(status, challenge=challenge))
        return made[-1]

    yield make
    for each in made:
        each.close()


def _digest_params(header: str) -> dict[str, str]:
    return {k: v.strip('"') for k, v in re.findall(r'(\w+)=("[^"]*"|[^,\s]+)', header)}


def test_register_answers_a_challenge_with_the_password(
    make_phone: PhoneFactory, registrar: Callable[..., FakeRegistrar]
) -> None:
    server = registrar(challenge=True)
    phone = make_phone("1001", "s3cret", registrar=server.address)
    assert phone.registered

    authorization = parse_sip_message(server.requests[-1])[1]["Authorization"]
    params = _digest_params(authorization)
    expected = digest_response("1001", FakeRegistrar.REALM, "s3cret", "REGISTER",
                               params["uri"], FakeRegistrar.NONCE)
    assert params["username"] == "1001"
    assert params["response"] == expected
    assert server.requests[-1].startswith(f"REGISTER sip:{server.address} SIP/2.0")

    phone.unregister()
    assert not phone.registered
    assert parse_sip_message(server.requests[-1])[1]["Expires"] == "0"


def test_a_refused_registration_raises_with_its_status(
    make_phone: PhoneFactory, registrar: Callable[..., FakeRegistrar]
) -> None:
    server = registrar(403)
    with pytest.raises(RegistrationError, match=r"REGISTER at .* failed: 403") as refused:
        make_phone("1002", "wrong", registrar=server.address)
    assert refused.value.status_code == 403


def test_a_silent_registrar_times_out(
    make_phone: PhoneFactory, registrar: Callable[..., FakeRegistrar]
) -> None:
    server = registrar(None)
    phone = make_phone("1003", "pw", registrar=server.address, register=False)
    with pytest.raises(TimeoutError, match="no answer to REGISTER"):
        phone.register(timeout=0.3)
    assert not phone.registered and server.requests


# --------------------------------------------------------------------------- SIP text


def test_parse_sip_message_unfolds_joins_and_ignores_case() -> None:
    raw = (
        "INVITE sip:+4420@127.0.0.1:5072 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 10.0.0.1\r\n"
        "v: SIP/2.0/UDP 10.0.0.2\r\n"
        "X-Long: first part\r\n"
        "\t second part\r\n"
        "f: <sip:a@b>;tag=1\r\n"
        "\r\n"
        "X-Not-A-Header: body\r\n"
    )
    start_line, headers = parse_sip_message(raw)

    assert start_line == "INVITE sip:+4420@127.0.0.1:5072 SIP/2.0"
    assert headers["via"] == "SIP/2.0/UDP 10.0.0.1, SIP/2.0/UDP 10.0.0.2"
    assert headers["X-LONG"] == "first part second part"
    assert headers["From"] == "<sip:a@b>;tag=1"
    assert "X-Not-A-Header" not in headers
    assert list(headers) == ["Via", "X-Long", "From"]


@pytest.mark.parametrize(
    ("uri", "user"),
    [
        ("sip:+442071234567@127.0.0.1:5072", "+442071234567"),
        ("<sips:%2B4420;npdi@example.com>", "+4420"),
        ("tel:+4420;phone-context=x", "+4420"),
        ("sip:127.0.0.1:5060", ""),
    ],
)
def test_sip_uri_user(uri: str, user: str) -> None:
    assert sip_uri_user(uri) == user


def free_udp_port(address: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


def test_a_phone_on_a_fixed_address_and_port_can_follow_one_closed_there(
    make_phone: PhoneFactory, alice: Phone,
) -> None:
    """The test carrier: each test's carrier sits on the trunk's address and port. The
    first one's BYE transaction lingers (32 s on UDP); the next opens there at once."""
    address = "127.0.0.99"
    port = free_udp_port(address)
    first = make_phone("+447700900123", address=address, port=port)
    assert first.uri == f"sip:+447700900123@{address}:{port}"
    outgoing = alice.call(f"sip:+442079460000@{address}:{port}")
    incoming = first.wait_incoming()
    incoming.answer()
    outgoing.wait_answered()
    outgoing.hangup()  # first answers alice's BYE
    incoming.wait_disconnected()
    first.close()
    alice.close()  # the transport of the only other phone (pjsua's transport 0) goes too
    second = make_phone("07700900123", address=address, port=port)
    alice = make_phone("alice")
    alice.call(f"sip:+442079460001@{address}:{port}")
    assert second.wait_incoming().request_user == "+442079460001"
    with pytest.raises(RuntimeError, match="on port"):
        make_phone("third", address=address, port=port)
