"""The fingerprint of the extensions pushed, and its keeping in Asterisk (a fake ARI)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bridge.asterisk.ari import AriError
from bridge.engine.pushed_mark import VARIABLE, PushedMark, fingerprint
from tests.unit.async_support import run
from tests.unit.fake_config_ari import FakeConfigAri
from tests.unit.test_provisioning import directory


def test_the_fingerprint_is_of_the_objects_pushed_in_any_order() -> None:
    extensions = directory(3)
    assert fingerprint(extensions) == fingerprint(extensions[::-1])
    assert fingerprint(extensions) != fingerprint(extensions[:2])
    assert fingerprint(extensions) != fingerprint(
        [replace(extensions[0], password="other"), *extensions[1:]])
    # Through a SIP edge the objects differ (no auth, an outbound proxy).
    assert fingerprint(extensions) != fingerprint(extensions, edge="127.0.0.10:5060")


class UnreadableAri(FakeConfigAri):
    """Asterisk failing to answer the read of a global variable."""

    async def get(self, path: str, params: Any = None) -> Any:
        if path == "/asterisk/variable":
            raise AriError(500, "GET", path, "Internal Server Error")
        return await super().get(path, params)


def test_a_read_that_fails_matches_nothing_and_clears_what_may_be_there() -> None:
    """The resync that follows changes endpoints: no fingerprint may stay meanwhile."""
    extensions = directory(2)

    async def scenario() -> None:
        ari = UnreadableAri()
        ari.globals[VARIABLE] = fingerprint(extensions)
        mark = PushedMark(ari)  # type: ignore[arg-type]
        assert not await mark.matches(extensions)
        assert VARIABLE not in ari.globals
        await mark.before_change()  # cleared already: no second write
        assert ari.global_writes == [(VARIABLE, "")]

    run(scenario())
