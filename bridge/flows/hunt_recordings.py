"""What a hunt records: the answered call (a group's record_calls) and voicemail."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bridge.flows.events import RecordingFailed, RecordingStarted

if TYPE_CHECKING:
    from bridge.flows.calls import CallFlow
    from bridge.flows.hunt import Hunt

MAX_MESSAGE_SECONDS = 180


def call_recording(call_id: str) -> str:
    """The name of a call's recording (Asterisk's stored recording)."""
    return f"call-{call_id}"


async def record_call(call: CallFlow) -> None:
    """Record the call from its bridge: one WAV per call, stored by this node's
    Asterisk, finished when the bridge goes. A recording that cannot start is
    logged; the call goes on."""
    name = call_recording(call.call_id)
    try:
        await call.ari.post(f"/bridges/{call.bridge_id}/record", {
            "name": name, "format": "wav", "ifExists": "fail"})
    except Exception as exc:
        call.publish(RecordingFailed(call_id=call.call_id, name=name, error=str(exc)))
        return
    recorded(call, name)


def recorded(call: CallFlow, name: str) -> None:
    """A recording of this call has started (the call's, or a voicemail's)."""
    call.recording = name
    call.publish(RecordingStarted(call_id=call.call_id, name=name))


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
