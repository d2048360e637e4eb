"""Helpers for extension tests: what Asterisk has registered for an extension's endpoint."""

from __future__ import annotations

from tests.support.asterisk import Asterisk


def contacts_of(asterisk: Asterisk, endpoint_id: str) -> list[dict[str, str]]:
    """The registered contacts Asterisk has for the endpoint's AOR (of the same name):
    a contact is named `<aor>;@<hash>`."""
    answer = asterisk.ami({"Action": "PJSIPShowContacts"})
    return [event for event in answer if event.get("Event") == "ContactList"
            and event.get("ObjectName", "").partition(";@")[0] == endpoint_id]
