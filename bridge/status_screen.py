"""What `ringbridge status` shows: the running service at a glance, on one screen."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from bridge.gateway import EngineOverview


def render(overview: EngineOverview, groups: Mapping[int, str], now: datetime) -> str:
    """`groups` names the ring groups by id (a group deleted meanwhile is shown by id)."""
    status = overview.status
    screen = [
        f"ringbridge at {now:%Y-%m-%d %H:%M:%S %Z}: engine up "
        f"{_duration(now - overview.started_at)}",
        f"Asterisk   ARI {_link(status.ari)}, AMI {_link(status.ami)}",
        f"Calls      {overview.calls_up} up, {overview.parked} parked",
        f"Dispatch   {overview.outbox} event(s) in the outbox",
    ]
    if not overview.lines:
        return "\n".join([*screen, "Waiting    no caller waits"])
    screen.append("Waiting lines")
    for group, (waiting, longest) in sorted(overview.lines.items()):
        name = groups.get(group, f"ring group {group}")
        screen.append(f"  {name}: {waiting} waiting, the longest for "
                      f"{_duration(timedelta(seconds=longest))}")
    return "\n".join(screen)


def _link(ready: bool) -> str:
    return "connected" if ready else "DOWN"


def _duration(span: timedelta) -> str:
    seconds = max(0, int(span.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"
