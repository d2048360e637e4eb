"""ISO 8601 instants with offset and durations, as dispatch's `cleared.times` wants them."""

from __future__ import annotations

from datetime import datetime


def instant(moment: datetime) -> str:
    """`2018-04-30T15:32:46.243+00:00`: milliseconds and an explicit offset."""
    if moment.tzinfo is None:
        raise ValueError("dispatch instants need a time zone")
    return moment.isoformat(timespec="milliseconds")


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


def cleared_times(received: datetime, connected: datetime | None,
                  cleared: datetime) -> dict[str, str]:
    """received, totalWait (until answered, or until the end if nobody answered),
    connected and duration (talk time) when someone answered, cleared."""
    waited_until = connected or cleared
    times = {"received": instant(received),
             "totalWait": duration((waited_until - received).total_seconds())}
    if connected is not None:
        times["connected"] = instant(connected)
        times["duration"] = duration((cleared - connected).total_seconds())
    times["cleared"] = instant(cleared)
    return times
