"""ISO 8601 instants with offset and durations, as dispatch's `cleared.times` wants them.

Instants carry the offset of the tenant's time zone (an IANA name, `UTC` by default).
"""

from __future__ import annotations

import functools
import logging
import zoneinfo
from datetime import UTC, datetime, tzinfo

log = logging.getLogger(__name__)

@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def is_time_zone(name: str) -> bool:
    """An IANA time zone name (`Europe/London`, `UTC`); not a path, not an abbreviation
    that is not a zone."""
    return name in _zone_names()


def time_zone(name: str) -> tzinfo:
    """The zone of an IANA name; UTC for a name this machine's zone data lacks (names
    are checked when set, but the data may change), logged."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        log.warning("time zone %r is unknown here; dispatch times are in UTC", name)
        return UTC


def instant(moment: datetime, zone: tzinfo | None = None) -> str:
    """`2018-04-30T15:32:46.243+01:00`: milliseconds and the offset `zone` has then
    (the moment's own offset without a zone)."""
    if moment.tzinfo is None:
        raise ValueError("dispatch instants need a time zone")
    shown = moment.astimezone(zone) if zone is not None else moment
    return shown.isoformat(timespec="milliseconds")


def duration(seconds: float) -> str:
    """`PT0S`, `PT10S`, `PT4M23S`, `PT1H2M3.5S`: hours, minutes and (milli)seconds."""
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative: {seconds}")
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    text = "PT"
    if hours:
        text += f"{hours}H"
    if minutes:
        text += f"{minutes}M"
    if millis or text == "PT":
        whole, fraction = divmod(millis, 1000)
        text += f"{whole}.{fraction:03d}".rstrip("0").rstrip(".") + "S"
    return text


def cleared_times(received: datetime, connected: datetime | None, cleared: datetime,
                  zone: tzinfo | None = None) -> dict[str, str]:
    """received, totalWait (until answered, or until the end if nobody answered),
    connected and duration (talk time) when someone answered, cleared; instants in
    `zone`."""
    waited_until = connected or cleared
    times = {"received": instant(received, zone),
             "totalWait": duration((waited_until - received).total_seconds())}
    if connected is not None:
        times["connected"] = instant(connected, zone)
        times["duration"] = duration((cleared - connected).total_seconds())
    times["cleared"] = instant(cleared, zone)
    return times
