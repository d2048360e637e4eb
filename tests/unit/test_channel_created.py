"""A channel's or bridge's `creationtime`, as ARI writes it."""

from datetime import UTC, datetime

from bridge.engine.live_calls import channel_created


def test_ari_creationtime_is_read_with_its_milliseconds_and_offset() -> None:
    assert channel_created({"creationtime": "2026-12-07T08:00:00.123+0100"}) == datetime(
        2026, 12, 7, 7, 0, 0, 123000, tzinfo=UTC)


def test_a_missing_or_unreadable_creationtime_is_none() -> None:
    assert channel_created({}) is None
    assert channel_created({"creationtime": "yesterday"}) is None
