"""What a hunt records: the answered call (a group's record_calls) and voicemail."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bridge.flows.events import RecordingFailed, RecordingStarted

if TYPE_CHECKING:
    from bridge.flows.hunt import Hunt

MAX_MESSAGE_SECONDS = 180


async def record_call(hunt: Hunt) -> None:
    """Record the call from its bridge: one WAV per call, stored by this node's
    Asterisk, finished when the bridge goes. A recording that cannot start is
    logged; the call goes on."""
    name = f"call-{hunt.call_id}"
    try:
        await hunt.ari.post(f"/bridges/{hunt.bridge_id}/record", {
            "name": name, "format": "wav", "ifExists": "fail"})
    except Exception as exc:
        hunt.publish(RecordingFailed(call_id=hunt.call_id, name=name, error=str(exc)))
        return
    recorded(hunt, name)


def recorded(hunt: Hunt, name: str) -> None:
    """A recording of this call has started (the call's, or a voicemail's)."""
    hunt.recording = name
    hunt.publish(RecordingStarted(call_id=hunt.call_id, name=name))


async def take_message(hunt: Hunt, recording: str) -> None:
    """Voicemail: answer, prompt, beep, record until the caller hangs up.

    Stasis runs a channel's operations in order, so the recording starts when the
    prompt has finished.
    """
    hunt.connected = True
    caller = f"/channels/{hunt.caller_id}"
    await hunt.ari.post(f"{caller}/answer")
    await hunt.ari.post(f"{caller}/play", {"media": "sound:vm-intro"})
    await hunt.ari.post(f"{caller}/record", {
        "name": recording, "format": "wav", "beep": True,
        "maxDurationSeconds": MAX_MESSAGE_SECONDS, "ifExists": "fail",
        "terminateOn": "#",
    })
