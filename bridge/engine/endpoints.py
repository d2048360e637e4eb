"""Extensions as PJSIP endpoints, made at run time through ARI's dynamic configuration.

Asterisk keeps these objects in memory (sorcery.conf maps endpoint/aor/auth to the
memory wizard beside pjsip.conf), so they vanish when Asterisk restarts: after each ARI
(re)connect the engine pushes the extensions Asterisk lacks, removes tenant endpoints
that the database no longer has, and then pushes the others again. The database is the
source of truth.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from urllib.parse import quote

from bridge import metrics
from bridge.asterisk.ari import AriClient, AriError, AriRefused
from bridge.gateway import UNSAFE_IN_CALLER_NAME, SipEndpoint

log = logging.getLogger(__name__)
DYNAMIC = "/asterisk/config/dynamic/res_pjsip"
PHONE_CONTEXT = "from-phones"
# The user of the SIP edge's OPTIONS probes (kamailio/edge.cfg, ds_ping_from): the
# endpoint exists once the node is ready for calls. No dialplan context of that name:
# a call from it goes nowhere.
EDGE_MAX_EXPIRES = 300  # seconds: a cluster phone's registration, at most
EDGE_PROBE = "rb-edge-probe"


def _fields(pairs: dict[str, str]) -> dict[str, list[dict[str, str]]]:
    return {"fields": [{"attribute": k, "value": v} for k, v in pairs.items()]}


def _path(kind: str, object_id: str) -> str:
    return f"{DYNAMIC}/{kind}/{quote(object_id, safe='')}"


def caller_id(endpoint: SipEndpoint) -> str:
    """`"name" <number>`; a name stored before the API checked names loses what is unsafe."""
    name = UNSAFE_IN_CALLER_NAME.sub("", endpoint.caller_name)
    return f'"{name}" <{endpoint.number}>'


def objects(endpoint: SipEndpoint, edge: str = "") -> dict[str, dict[str, str]]:
    """An extension's auth, aor and endpoint: their fields by kind.

    With a SIP `edge` (a cluster's Kamailio, docs/cluster.md) the phone registers and
    calls through the edge, which authenticates it: the endpoint has no auth of its own
    (Asterisk's SIP ACL lets only the edge in), keeps the phone's own contact (the edge
    sends each REGISTER on to every Asterisk node), and reaches it through the edge.
    Its registrations last EDGE_MAX_EXPIRES at most: a node that missed a REGISTER (out
    of use then, or not knowing the extension yet) learns the phone within that time.
    """
    name = endpoint.endpoint_id
    auth = {} if edge else {"auth": {
        "auth_type": "digest", "username": endpoint.username, "password": endpoint.password}}
    return {**auth, "aor": {
        "max_contacts": "1", "remove_existing": "yes",
        **({"maximum_expiration": str(EDGE_MAX_EXPIRES)} if edge else {}),
    }, "endpoint": {
        "context": PHONE_CONTEXT, "aors": name, "allow": "!all,ulaw,alaw,gsm",
        "direct_media": "no", "rtp_symmetric": "yes", "force_rport": "yes",
        "dtmf_mode": "rfc4733", "device_state_busy_at": "1",
        "callerid": caller_id(endpoint), "from_domain": endpoint.domain,
        **({"outbound_proxy": f"sip:{edge};lr", "rewrite_contact": "no"} if edge
           else {"auth": name, "rewrite_contact": "yes"}),
    }}


async def push(ari: AriClient, endpoint: SipEndpoint, edge: str = "") -> None:
    """Create or replace auth, aor and endpoint (idempotent). A part Asterisk refuses
    is raised, once what was made before it is taken back from an extension Asterisk
    has no endpoint for (`take_back`)."""
    made = False
    for kind, fields in objects(endpoint, edge).items():
        try:
            await _put(ari, kind, endpoint.endpoint_id, fields)
        except AriError as exc:
            if made and exc.status:  # refused, not ARI lost
                await take_back(ari, endpoint.endpoint_id)
            raise
        made = True


async def take_back(ari: AriClient, endpoint_id: str) -> None:
    """After a refused push, the aor and auth of an extension Asterisk has no endpoint
    for go again: no endpoint names them, so no resync (which lists the endpoints) would
    find them, and they would stay until Asterisk restarts."""
    try:
        await ari.get(f"/endpoints/PJSIP/{quote(endpoint_id, safe='')}")
    except AriError as exc:
        if exc.status == 404:
            await _attempt(remove(ari, endpoint_id), endpoint_id, "taken back from")
            return
        log.warning("endpoint %s: not known whether a refused push left parts of it in "
                    "Asterisk (%s)", endpoint_id, exc)


async def _put(ari: AriClient, kind: str, endpoint_id: str, fields: dict[str, str]) -> None:
    await ari.request("PUT", _path(kind, endpoint_id), json=_fields(fields))


async def push_many(ari: AriClient, extensions: list[SipEndpoint], edge: str = ""
                    ) -> set[str]:
    """Push extensions Asterisk lacks, every aor first, then every auth, then every
    endpoint; returns the ids of those pushed whole.

    Asterisk 22 reads every endpoint it has for each new aor, into a sorted list
    (res_pjsip's pjsip_options.c), so an aor made beside N endpoints costs some N²
    comparisons: pushed one extension at a time, 4,000 extensions took 90 s (the last
    ones 63 ms each); made before any endpoint, the aors cost next to nothing and the
    4,000 took 12 s (docs/benchmarks.md).

    One that Asterisk refuses is logged, left out of the later rounds, and what an
    earlier round made of it is taken back (`take_back`). Once ringbridge is stopping or
    ARI is lost, the rest is left for the next connect.
    """
    wanted = {e.endpoint_id: objects(e, edge) for e in extensions}
    pushed: set[str] = set()
    failed: set[str] = set()
    for kind in ("aor", "auth", "endpoint"):
        for endpoint_id in [i for i in wanted if i not in failed and kind in wanted[i]]:
            if cut_short(ari):
                break
            worked = await _attempt(_put(ari, kind, endpoint_id, wanted[endpoint_id][kind]),
                                    endpoint_id, "pushed to")
            if worked is False:
                failed.add(endpoint_id)
                if kind != "aor" and not cut_short(ari):
                    await take_back(ari, endpoint_id)
            elif worked and kind == "endpoint":
                pushed.add(endpoint_id)
    metrics.EXTENSION_CHANGES.labels("push", "done").inc(len(pushed))
    metrics.EXTENSION_CHANGES.labels("push", "failed").inc(len(failed))
    return pushed


async def remove(ari: AriClient, endpoint_id: str) -> None:
    """Delete endpoint, aor and auth: the phone can no longer register or call."""
    for kind in ("endpoint", "aor", "auth"):
        try:
            await ari.request("DELETE", _path(kind, endpoint_id))
        except AriError as exc:
            if exc.status != 404:
                raise


async def sync_missing(ari: AriClient, wanted: list[SipEndpoint], edge: str = ""
                       ) -> tuple[set[str], list[SipEndpoint]]:
    """Remove tenant endpoints (`x@domain`) the database lacks; push the extensions
    Asterisk lacks. Returns the endpoints pushed, and the extensions Asterisk already
    had: it outlived the engine that pushed them (ringbridge restarted, or a cluster
    node's standby took it over), so no call need wait for them (Provisioning pushes
    them again afterwards, in case one changed meanwhile).

    Each push and removal stands alone: one that Asterisk refuses is logged (extension,
    tenant domain, Asterisk's answer) and the others go on, so one bad extension never
    fails the connect. Once ringbridge is stopping (its ARI refuses to send) or ARI is
    lost, the rest is left for the next connect, said once.
    """
    present = {e["resource"] for e in await ari.get("/endpoints/PJSIP")}
    wanted_ids = {endpoint.endpoint_id for endpoint in wanted}
    for stale in sorted({name for name in present if "@" in name} - wanted_ids):
        if cut_short(ari):
            break
        log.info("removing endpoint %s: no such extension any more", stale)
        await alone(remove(ari, stale), stale, "removed from", "removal")
    had = [endpoint for endpoint in wanted if endpoint.endpoint_id in present]
    missing = [endpoint for endpoint in wanted if endpoint.endpoint_id not in present]
    pushed = await push_many(ari, missing, edge)
    log.info("extension endpoints: %d of %d in Asterisk already, %d of the other %d pushed%s",
             len(had), len(wanted), len(pushed), len(missing), why_cut_short(ari))
    return pushed, had


def cut_short(ari: AriClient) -> bool:
    """Whether a run of pushes stops: ringbridge stopping, or ARI lost (every request
    would fail; the next connect does the rest)."""
    return ari.refusing or not ari.connected


def why_cut_short(ari: AriClient) -> str:
    """The end of a summary line: why a run of pushes stopped, if it did."""
    if ari.refusing:
        return " (ringbridge is stopping)"
    return "" if ari.connected else " (ARI lost)"


async def open_to_edge(ari: AriClient) -> bool:
    """Let the SIP edge's probes in (once every extension is pushed): the edge sends a
    node calls only while its OPTIONS (From EDGE_PROBE) get 200, and Asterisk answers an
    unknown sender 401 (kamailio/edge.cfg). True when done."""
    try:
        await ari.request("PUT", _path("endpoint", EDGE_PROBE), json=_fields({
            "context": "edge-probe", "allow": "!all,ulaw"}))
    except AriError as exc:
        log.error("the SIP edge's probe endpoint not pushed to Asterisk (%s): the edge "
                  "sends this node no call yet; trying again", exc)
        return False
    log.info("extensions pushed: the SIP edge may send this node calls")
    return True


async def close_to_edge(ari: AriClient) -> None:
    """Take the probe endpoint away: the edge sends this node no new call from its next
    probe on (ringbridge stopping cleanly)."""
    try:
        await ari.request("DELETE", _path("endpoint", EDGE_PROBE))
    except AriError as exc:
        log.warning("the SIP edge's probe endpoint not removed (%s): the edge goes on "
                    "sending this node calls", exc)
        return
    log.info("the SIP edge sends this node no more calls")


async def alone(step: Awaitable[None], endpoint_id: str, what: str, action: str) -> bool:
    """Await one endpoint's step; True when it worked, else log why and carry on."""
    worked = await _attempt(step, endpoint_id, what)
    if worked is not None:
        metrics.EXTENSION_CHANGES.labels(action, "done" if worked else "failed").inc()
    return bool(worked)


async def _attempt(step: Awaitable[None], endpoint_id: str, what: str) -> bool | None:
    """True when `step` worked; False when Asterisk refused it (logged); None when
    ringbridge is stopping (left for its next start, not an error)."""
    try:
        await step
    except AriRefused:
        return None
    except AriError as exc:
        number, _, domain = endpoint_id.partition("@")
        log.error("extension %s of tenant %s not %s Asterisk: %s", number, domain, what, exc)
        return False
    return True
