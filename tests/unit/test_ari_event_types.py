"""The ARI event types Asterisk is asked for (an application eventFilter) must include
every type the code acts on: an event type left out never arrives, silently."""

from __future__ import annotations

import ast
from pathlib import Path

from bridge.flows.calls import ARI_EVENT_TYPES

BRIDGE = Path(__file__).resolve().parents[2] / "bridge"
# Asterisk 22.10's ARI event types (rest-api/api-docs/events.json).
ARI_CATALOGUE = frozenset({
    "ApplicationMoveFailed", "ApplicationRegistered", "ApplicationReplaced",
    "ApplicationUnregistered", "BridgeAttendedTransfer", "BridgeBlindTransfer",
    "CallBroadcast", "CallClaimed",
    "BridgeCreated", "BridgeDestroyed", "BridgeMerged", "BridgeVideoSourceChanged",
    "ChannelCallerId", "ChannelConnectedLine", "ChannelCreated", "ChannelDestroyed",
    "ChannelDialplan", "ChannelDtmfReceived", "ChannelEnteredBridge",
    "ChannelHangupRequest", "ChannelHold", "ChannelLeftBridge", "ChannelStateChange",
    "ChannelTalkingFinished", "ChannelTalkingStarted", "ChannelToneDetected",
    "ChannelTransfer", "ChannelUnhold", "ChannelUserevent", "ChannelVarset",
    "ContactStatusChange", "DeviceStateChanged", "Dial", "EndpointStateChange",
    "PeerStatusChange", "PlaybackContinuing", "PlaybackFinished", "PlaybackStarted",
    "RecordingFailed", "RecordingFinished", "RecordingStarted", "StasisEnd",
    "StasisStart", "TextMessageReceived",
})


def event_types_named_in(path: Path) -> set[str]:
    return {node.value for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant) and node.value in ARI_CATALOGUE}


def test_every_event_type_the_code_names_is_asked_for() -> None:
    named = set().union(*(event_types_named_in(path) for path in BRIDGE.rglob("*.py")))
    assert named - ARI_EVENT_TYPES == set()
    assert ARI_EVENT_TYPES <= ARI_CATALOGUE  # no misspelt type asked for
