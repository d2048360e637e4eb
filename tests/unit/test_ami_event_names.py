"""The AMI events switched off in Asterisk (manager.conf's disabledevents) must be none
that ringbridge reads: a disabled event never arrives, silently."""

from __future__ import annotations

import ast
import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def disabled_events() -> set[str]:
    config = configparser.ConfigParser(inline_comment_prefixes=(";",), strict=False,
                                       interpolation=None)
    config.read_string((ROOT / "asterisk-conf" / "manager.conf").read_text())
    return {name.strip() for name in config["general"]["disabledevents"].split(",")}


def names_in_the_code() -> set[str]:
    """Every string constant of bridge/: an event handled (`ami.on("ParkedCall", ...)`,
    PARKED_EVENTS...) is named there."""
    return {node.value for path in (ROOT / "bridge").rglob("*.py")
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)}


def test_no_event_the_code_names_is_disabled() -> None:
    assert disabled_events() & names_in_the_code() == set()


def test_the_events_ringbridge_handles_are_named_and_not_disabled() -> None:
    handled = {"FullyBooted", "Shutdown", "ContactStatus", "UserEvent", "ParkedCall",
               "ParkedCallSwap", "ParkedCallTimeOut", "ParkedCallGiveUp", "UnParkedCall"}
    assert handled <= names_in_the_code()
    assert len(disabled_events()) > 20 and not handled & disabled_events()
