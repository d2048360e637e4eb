"""Dispatch addresses, times and signatures: pure functions, checked against the spec."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bridge.dispatch.config import DispatchConfig
from bridge.dispatch.signing import is_valid_secret, new_secret, signature_headers
from bridge.dispatch.times import cleared_times, duration, instant, is_time_zone, time_zone


def config(**overrides: object) -> DispatchConfig:
    values: dict[str, object] = {"tenant_id": 1, "company_id": "ABC Taxis",
                                 "base_url": "https://dispatch.example.com/"}
    values.update(overrides)
    return DispatchConfig(**values)  # type: ignore[arg-type]


def test_the_host_names_the_company() -> None:
    assert config().url("ringing") == "https://dispatch.example.com/telephony/ringing"


def test_the_company_in_the_path_is_one_encoded_segment() -> None:
    assert config(company_in_path=True).url("ringing") == \
        "https://dispatch.example.com/ABC%20Taxis/telephony/ringing"
    assert config(company_in_path=True, company_id="a/b?c").url("cleared") == \
        "https://dispatch.example.com/a%2Fb%3Fc/telephony/cleared"


def test_the_company_in_the_query_when_asked() -> None:
    assert config(company_in_query=True).url("missed") == \
        "https://dispatch.example.com/telephony/missed?companyId=ABC%20Taxis"


def test_invite_query_parameters_are_encoded() -> None:
    url = config().url("invite", {"companyId": "ABC Taxis", "phoneNumber": "+441234567890",
                                  "queueId": "main@exampletaxis.com"})
    assert url == ("https://dispatch.example.com/telephony/invite?companyId=ABC%20Taxis"
                   "&phoneNumber=%2B441234567890&queueId=main%40exampletaxis.com")


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "PT0S"), (10, "PT10S"), (263, "PT4M23S"), (3723.5, "PT1H2M3.5S"), (60, "PT1M"),
    (0.243, "PT0.243S"), (3600, "PT1H"),
])
def test_durations_in_iso_8601(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_instants_carry_milliseconds_and_an_offset() -> None:
    moment = datetime(2018, 4, 30, 15, 32, 46, 243000, tzinfo=timezone(timedelta(hours=1)))
    assert instant(moment) == "2018-04-30T15:32:46.243+01:00"
    with pytest.raises(ValueError):
        instant(datetime(2018, 4, 30))


def test_cleared_times_of_an_answered_call() -> None:
    received = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    times = cleared_times(received, received + timedelta(seconds=10),
                          received + timedelta(seconds=273))
    assert times == {"received": "2026-01-01T12:00:00.000+00:00", "totalWait": "PT10S",
                     "connected": "2026-01-01T12:00:10.000+00:00", "duration": "PT4M23S",
                     "cleared": "2026-01-01T12:04:33.000+00:00"}


def test_cleared_times_of_a_missed_call_wait_until_the_end() -> None:
    received = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    times = cleared_times(received, None, received + timedelta(seconds=25))
    assert times == {"received": "2026-01-01T12:00:00.000+00:00", "totalWait": "PT25S",
                     "cleared": "2026-01-01T12:00:25.000+00:00"}


def test_cleared_times_carry_the_offset_of_the_tenants_zone_that_day() -> None:
    """The spec's example: a London company's times in BST are +01:00; in winter +00:00.
    The durations do not change."""
    summer = datetime(2018, 4, 30, 14, 32, 46, 243000, tzinfo=UTC)
    times = cleared_times(summer, summer + timedelta(seconds=10),
                          summer + timedelta(seconds=273), time_zone("Europe/London"))
    assert times == {"received": "2018-04-30T15:32:46.243+01:00", "totalWait": "PT10S",
                     "connected": "2018-04-30T15:32:56.243+01:00", "duration": "PT4M23S",
                     "cleared": "2018-04-30T15:37:19.243+01:00"}
    winter = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert instant(winter, time_zone("Europe/London")) == "2026-01-01T12:00:00.000+00:00"
    assert instant(winter, time_zone("America/New_York")) == "2026-01-01T07:00:00.000-05:00"
    assert instant(winter, time_zone("Asia/Kolkata")) == "2026-01-01T17:30:00.000+05:30"


@pytest.mark.parametrize(("name", "valid"), [
    ("UTC", True), ("Europe/London", True), ("America/Argentina/Buenos_Aires", True),
    ("Europe/Londres", False), ("", False), ("../../etc/passwd", False), ("/etc/localtime",
                                                                         False),
    ("+01:00", False), ("europe/london", False),
])
def test_time_zones_are_iana_names(name: str, valid: bool) -> None:
    assert is_time_zone(name) is valid


def test_a_zone_the_machine_lacks_reads_as_utc() -> None:
    """Names are checked when set; zone data changing later must not break a call's end."""
    assert time_zone("Mars/Olympus_Mons").utcoffset(None) == timedelta(0)


def test_signature_is_standard_webhooks_hmac_of_id_timestamp_body() -> None:
    """Checked by hand from the Standard Webhooks definition, not with the library."""
    secret = new_secret()
    moment = datetime(2026, 11, 25, 16, 0, 0, tzinfo=UTC)
    headers = signature_headers(secret, "msg_1", '{"a":1}', moment)
    assert headers["webhook-id"] == "msg_1"
    assert headers["webhook-timestamp"] == str(int(moment.timestamp()))
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = hmac.new(key, f"msg_1.{int(moment.timestamp())}.{{\"a\":1}}".encode(),
                        hashlib.sha256).digest()
    assert headers["webhook-signature"] == "v1," + base64.b64encode(expected).decode()


@pytest.mark.parametrize(("secret", "valid"), [
    (new_secret(), True), ("whsec_" + base64.b64encode(b"x" * 23).decode(), False),
    ("whsec_not base64!", False), (base64.b64encode(b"x" * 32).decode(), False),
])
def test_secrets_are_checked(secret: str, valid: bool) -> None:
    assert is_valid_secret(secret) is valid
