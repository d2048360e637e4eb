"""Extensions as PJSIP endpoints through ARI's dynamic configuration (a fake ARI)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bridge.asterisk.ari import AriError
from bridge.engine import endpoints
from bridge.engine.endpoints import SipEndpoint
from tests.unit.async_support import run
from tests.unit.fake_config_ari import FOREVER, REFUSAL, FakeConfigAri


def extension(number: str, domain: str = "abc.example", name: str = "John Smith"
              ) -> SipEndpoint:
    return SipEndpoint(endpoint_id=f"{number}@{domain}", username=number,
                       password=f"secret-{number}", caller_name=name, number=number)


def push(ari: FakeConfigAri, endpoint: SipEndpoint) -> None:
    run(endpoints.push(ari, endpoint))  # type: ignore[arg-type]


def remove(ari: FakeConfigAri, endpoint_id: str) -> None:
    run(endpoints.remove(ari, endpoint_id))  # type: ignore[arg-type]


def sync_missing(ari: FakeConfigAri, wanted: list[SipEndpoint]
                 ) -> tuple[set[str], list[SipEndpoint]]:
    return asyncio.run(endpoints.sync_missing(ari, wanted))  # type: ignore[arg-type]


def test_push_writes_auth_aor_and_endpoint() -> None:
    ari = FakeConfigAri()
    push(ari, extension("1001"))
    assert ari.objects["auth", "1001@abc.example"] == {
        "auth_type": "digest", "username": "1001", "password": "secret-1001"}
    assert ari.objects["aor", "1001@abc.example"] == {"max_contacts": "1",
                                                      "remove_existing": "yes"}
    endpoint = ari.objects["endpoint", "1001@abc.example"]
    assert endpoint["callerid"] == '"John Smith" <1001>'
    assert endpoint["auth"] == endpoint["aors"] == "1001@abc.example"
    assert endpoint["context"] == "from-phones"
    assert endpoint["from_domain"] == "abc.example"  # INVITEs to it come from the tenant


def test_behind_a_sip_edge_the_phone_has_no_auth_here_and_is_reached_through_the_edge(
) -> None:
    """A cluster's edge authenticates the phone and sends its REGISTER on to Asterisk:
    Asterisk keeps the phone's own contact, for 5 minutes at most, and sends it requests
    through the edge."""
    ari = FakeConfigAri()
    run(endpoints.push(ari, extension("1001"), "127.0.0.10:5060"))  # type: ignore[arg-type]
    assert ("auth", "1001@abc.example") not in ari.objects
    endpoint = ari.objects["endpoint", "1001@abc.example"]
    assert "auth" not in endpoint
    assert endpoint["outbound_proxy"] == "sip:127.0.0.10:5060;lr"
    assert endpoint["rewrite_contact"] == "no"
    assert endpoint["aors"] == "1001@abc.example"
    # A node that missed a REGISTER learns the phone at its next one, 5 minutes at most.
    assert ari.objects["aor", "1001@abc.example"]["maximum_expiration"] == "300"


def test_a_sync_says_which_endpoints_asterisk_took() -> None:
    ari = FakeConfigAri()
    ari.refuse["1002@abc.example"] = 1
    pushed, had = sync_missing(ari, [extension("1001"), extension("1002")])
    assert pushed == {"1001@abc.example"} and had == []


def test_opening_to_the_edge_makes_the_probe_endpoint_and_closing_takes_it_away() -> None:
    ari = FakeConfigAri()
    assert asyncio.run(endpoints.open_to_edge(ari))  # type: ignore[arg-type]
    assert endpoints.EDGE_PROBE in ari.endpoints()
    run(endpoints.close_to_edge(ari))  # type: ignore[arg-type]
    assert ari.endpoints() == []
    ari.refuse[endpoints.EDGE_PROBE] = 1
    assert not asyncio.run(endpoints.open_to_edge(ari))  # type: ignore[arg-type]


def test_a_name_stored_before_names_were_checked_loses_what_breaks_the_callerid() -> None:
    ari = FakeConfigAri()
    push(ari, extension("1001", name='Jo"hn\r\n<Smith>; \\x'))
    assert ari.objects["endpoint", "1001@abc.example"]["callerid"] == '"JohnSmith x" <1001>'


def test_remove_deletes_all_three_and_tolerates_what_is_already_gone() -> None:
    ari = FakeConfigAri()
    push(ari, extension("1001"))
    del ari.objects["aor", "1001@abc.example"]
    remove(ari, "1001@abc.example")
    assert ari.objects == {}
    assert [(method, kind) for method, kind, _ in ari.requests[-3:]] == [
        ("DELETE", "endpoint"), ("DELETE", "aor"), ("DELETE", "auth")]


def test_remove_raises_what_asterisk_refuses() -> None:
    ari = FakeConfigAri()
    ari.refuse["1001@abc.example"] = 1
    with pytest.raises(AriError) as refused:
        remove(ari, "1001@abc.example")
    assert refused.value.status == 400


def test_a_sync_pushes_the_missing_removes_the_stale_and_returns_what_asterisk_had(
) -> None:
    """What Asterisk already has is left for later (Provisioning pushes it again once
    calls run), so a large directory holds no call up after a restart or takeover."""
    ari = FakeConfigAri(static=("1001", "carrier"))
    for stale in ("2001@abc.example", "1001@abc.example"):
        push(ari, extension(stale.split("@")[0]))
    ari.objects["auth", "1001@abc.example"]["password"] = "old"
    ari.requests.clear()
    pushed, had = sync_missing(ari, [extension("1001"), extension("1001", "globex.example")])
    assert sorted(ari.endpoints()) == ["1001", "1001@abc.example", "1001@globex.example",
                                       "carrier"]
    assert ("auth", "2001@abc.example") not in ari.objects
    assert pushed == {"1001@globex.example"} and had == [extension("1001")]
    assert ari.objects["auth", "1001@abc.example"]["password"] == "old"
    assert {object_id for _, _, object_id in ari.requests} == {"2001@abc.example",
                                                               "1001@globex.example"}


def test_one_refused_extension_does_not_stop_the_others(caplog: pytest.LogCaptureFixture
                                                       ) -> None:
    ari = FakeConfigAri()
    push(ari, extension("3001", "gone.example"))
    ari.refuse.update({"1002@abc.example": FOREVER, "3001@gone.example": FOREVER})
    wanted = [extension("1001"), extension("1002"), extension("1003")]
    with caplog.at_level(logging.INFO, logger="bridge.engine.endpoints"):
        sync_missing(ari, wanted)
    assert sorted(ari.endpoints()) == ["1001@abc.example", "1003@abc.example",
                                       "3001@gone.example"]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2
    removal, refused = errors
    assert "extension 3001 of tenant gone.example not removed" in removal
    assert "extension 1002 of tenant abc.example not pushed" in refused
    assert f"400 {REFUSAL}" in refused
    assert caplog.records[-1].getMessage() == (
        "extension endpoints: 0 of 3 in Asterisk already, 2 of the other 3 pushed")


def test_a_sync_cut_short_by_stopping_says_so_once(caplog: pytest.LogCaptureFixture
                                                   ) -> None:
    """ringbridge stopping while it pushes (a cluster node's standby that had just taken
    an Asterisk node over): no other object is tried, no error is logged, and one line
    says why the sync stopped."""
    ari = FakeConfigAri()
    push(ari, extension("3001", "gone.example"))
    ari.stop_after = len(ari.requests) + 4  # the removal's 3 requests, then one more
    with caplog.at_level(logging.INFO, logger="bridge.engine.endpoints"):
        sync_missing(ari, [extension(str(number)) for number in range(1001, 1011)])
    assert len(ari.requests) == 7 and ari.refused == 0
    assert [r.getMessage() for r in caplog.records if r.levelno > logging.INFO] == []
    assert caplog.records[-1].getMessage() == (
        "extension endpoints: 0 of 10 in Asterisk already, 0 of the other 10 pushed "
        "(ringbridge is stopping)")


def test_a_sync_cut_short_by_ari_lost_says_so_once(caplog: pytest.LogCaptureFixture
                                                   ) -> None:
    """Every request after ARI is lost would fail: one line, not an error per extension."""
    ari = FakeConfigAri()

    async def lost_after_one_extension(method: str, path: str, **fields: object) -> None:
        await FakeConfigAri.request(ari, method, path, **fields)
        ari.connected = len(ari.requests) < 21  # every aor and auth, one endpoint

    ari.request = lost_after_one_extension  # type: ignore[method-assign]
    with caplog.at_level(logging.INFO, logger="bridge.engine.endpoints"):
        sync_missing(ari, [extension(str(number)) for number in range(1001, 1011)])
    assert [r.getMessage() for r in caplog.records if r.levelno > logging.INFO] == []
    assert caplog.records[-1].getMessage() == (
        "extension endpoints: 0 of 10 in Asterisk already, 1 of the other 10 pushed "
        "(ARI lost)")


def test_a_sync_pushes_every_aor_then_every_auth_then_every_endpoint() -> None:
    """Asterisk reads all its endpoints for each new aor: aors made before any endpoint
    keep a large directory's push from growing with the square of its size."""
    ari = FakeConfigAri()
    pushed, _ = sync_missing(ari, [extension(str(number)) for number in range(1001, 1004)])
    assert [kind for _, kind, _ in ari.requests] == ["aor"] * 3 + ["auth"] * 3 + ["endpoint"] * 3
    assert [object_id for _, _, object_id in ari.requests[:3]] == [
        "1001@abc.example", "1002@abc.example", "1003@abc.example"]
    assert pushed == {"1001@abc.example", "1002@abc.example", "1003@abc.example"}
    assert ari.objects["endpoint", "1002@abc.example"]["auth"] == "1002@abc.example"


def test_an_endpoint_refused_takes_its_aor_and_auth_away_again(
        caplog: pytest.LogCaptureFixture) -> None:
    """Asterisk refuses the endpoint of 1002 after its aor and auth were made: they go,
    or they would stay until Asterisk restarts (no endpoint names them, so no resync
    finds them)."""
    ari = FakeConfigAri()
    ari.invalid.add(("endpoint", "1002@abc.example"))
    with caplog.at_level(logging.INFO, logger="bridge.engine.endpoints"):
        pushed, _ = sync_missing(ari, [extension("1001"), extension("1002")])
    assert pushed == {"1001@abc.example"}
    assert sorted(ari.objects) == [("aor", "1001@abc.example"), ("auth", "1001@abc.example"),
                                   ("endpoint", "1001@abc.example")]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "extension 1002 of tenant abc.example not pushed" in errors[0]


def test_a_refused_push_of_a_new_extension_leaves_nothing_of_it() -> None:
    """The push of one extension (an API job, a push again): its endpoint refused where
    Asterisk has none, its auth and aor go again; an existing one keeps what it had."""
    ari = FakeConfigAri()
    push(ari, extension("1001"))
    ari.invalid.update({("endpoint", "1001@abc.example"), ("endpoint", "1002@abc.example")})
    for number in ("1001", "1002"):
        with pytest.raises(AriError, match="400"):
            push(ari, extension(number, name="Ann Smith"))
    assert sorted(ari.objects) == [("aor", "1001@abc.example"), ("auth", "1001@abc.example"),
                                   ("endpoint", "1001@abc.example")]
    assert ari.objects["endpoint", "1001@abc.example"]["callerid"] == '"John Smith" <1001>'
