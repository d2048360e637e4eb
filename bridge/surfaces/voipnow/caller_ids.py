"""A caller id given through the API for one call (`callerId` of UnPark and PickUp).

A number, or `Name <number>` as VoIPNow writes it (`"John Doe <42420042>"`; the name
may be quoted, or left out: `<42420042>`). The name follows the rules of an
extension's `display_name` (the same characters refused, the same length): it
becomes the SIP display name of the INVITE, inside quotes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bridge.gateway import UNSAFE_IN_CALLER_NAME

NAME_MAX = 128  # as an extension's display_name
_NUMBER = r"\+?[0-9]{1,32}"
_BARE = re.compile(_NUMBER)
_NAMED = re.compile(rf"(?P<name>[^<]*)<(?P<number>{_NUMBER})>")
FORMS = "a number (digits, + first for E.164) or Name <number>"


class CallerIdInvalid(ValueError):
    """Why the text is no caller id."""


@dataclass(frozen=True)
class CallerId:
    number: str
    name: str = ""


def parse_caller_id(text: str) -> CallerId:
    if _BARE.fullmatch(text):
        return CallerId(text)
    named = _NAMED.fullmatch(text)
    if named is None:
        raise CallerIdInvalid(f"callerId must be {FORMS}")
    name = named["name"].strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = name[1:-1].strip()
    if UNSAFE_IN_CALLER_NAME.search(name):
        raise CallerIdInvalid('the name of callerId must not contain control characters '
                              '(CR, LF, tab, ...) or any of " \\ < > ;')
    if len(name) > NAME_MAX:
        raise CallerIdInvalid(f"the name of callerId is longer than {NAME_MAX} characters")
    return CallerId(named["number"], name)
