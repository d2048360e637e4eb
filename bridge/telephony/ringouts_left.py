"""RingOuts an earlier ringbridge left open that nothing else would close.

A RingOut's row is closed by the `ended` step of the flow that runs it. After a restart
of ringbridge no flow runs the RingOuts of the earlier one: a connected RingOut is
adopted with the channels left in its bridge, and the legs of a ringing one are hung up
by the take-up, which closes its record (bridge/telephony/orphans.py). When Asterisk has
no channel of the RingOut left (ringbridge was down longer than the legs' dial timeout,
so Asterisk hung them up itself; or both phones of a connected one hung up meanwhile),
neither happens, and its row would answer InProgress (or Success) for ever.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable


def ringouts_left(open_ids: Iterable[str], channels: Collection[str],
                  closed_elsewhere: Collection[str]) -> list[str]:
    """The RingOuts of `open_ids` (not ended in the database) to close: not in
    `closed_elsewhere` (run by a flow, adopted ones included, or closed by the take-up),
    and with no leg (`rb-<id>-1`, `rb-<id>-2`) among `channels`."""
    return [call_id for call_id in open_ids
            if call_id not in closed_elsewhere
            and f"rb-{call_id}-1" not in channels and f"rb-{call_id}-2" not in channels]
