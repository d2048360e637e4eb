"""Prometheus metrics: every metric ringbridge exposes, defined once, and their text.

docs/metrics.md lists them (a test keeps the list equal to what GET /metrics shows).
Labels are bounded: a tenant and a ring group are their database ids, a route its
template; never a call, a number or a user. Under `ringbridge serve` the metrics live
in files that every process writes (bridge/metrics_dir.py) and a scrape adds them up;
elsewhere (tests, one process) they live in memory.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
    values,
)

from bridge.metrics_dir import ENVIRONMENT

_pid = os.getpid()


def _process_id() -> int:
    """This process's id, kept. In files, prometheus_client asks for it at every change
    of a metric (a forked child must write its own file), and os.getpid() is a system
    call each time: about 2% of the engine's CPU at 50 calls/s."""
    return _pid


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)
if ENVIRONMENT in os.environ:  # before any metric below is made
    values.ValueClass = values.MultiProcessValue(_process_id)

CONTENT_TYPE = CONTENT_TYPE_LATEST
disable_created_metrics()  # `_created` series: one process has them, several not
GROUP_LABELS = ("tenant", "group", "strategy")
# Seconds: a caller's wait and a phone's ringing run from an instant to minutes.
WAIT_BUCKETS = (0.5, 1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 300, 600)
FAST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)

# Calls, from the engine's call events (bridge/engine/call_metrics.py).
CALLS_ARRIVED = Counter("ringbridge_calls_arrived", "Calls that reached ringbridge: to a "
                        "ring group, an extension or from the carrier", GROUP_LABELS)
CALLS_DECLINED = Counter("ringbridge_calls_declined", "New calls the engine declined "
                         "while ARI answered it late: offers of a call (offered again, or "
                         "left to Asterisk's fallback) and RingOuts (503 to the client)")
CALLS_ANSWERED = Counter("ringbridge_calls_answered", "Calls a phone answered",
                         GROUP_LABELS)
CALLS_MISSED = Counter("ringbridge_calls_missed", "Calls that ended with no phone "
                       "answering, the caller still there", GROUP_LABELS)
CALLS_ABANDONED = Counter("ringbridge_calls_abandoned", "Calls whose caller hung up "
                          "before a phone answered", GROUP_LABELS)
CALL_SETUP = Histogram("ringbridge_call_setup_seconds", "From the caller's channel (its "
                       "INVITE) to the first phone rung for it, as the engine sees them",
                       GROUP_LABELS, buckets=FAST_BUCKETS)
CALLER_WAIT = Histogram("ringbridge_caller_wait_seconds", "From a call's arrival to a "
                        "phone answering it", GROUP_LABELS, buckets=WAIT_BUCKETS)
MEMBER_RINGING = Histogram("ringbridge_member_ringing_seconds", "How long a phone rang "
                           "for a call, answered or not", GROUP_LABELS,
                           buckets=WAIT_BUCKETS)
RINGOUTS = Counter("ringbridge_ringouts", "RingOuts that ended, by the state their call "
                   "ended in: connected (both legs answered) or not-reached",
                   ("tenant", "status"))
PARKS = Counter("ringbridge_parks", "Calls parked (and calls back in the lot after an "
                "unanswered take-back)", ("tenant",))
PARK_COMEBACKS = Counter("ringbridge_park_comebacks", "Parked calls whose time ran out: "
                         "they ring their parker", ("tenant",))
PARK_PICKUPS = Counter("ringbridge_park_pickups", "Parked calls a phone took back by "
                       "dialling the slot", ("tenant",))

# The engine's state, sampled every second (bridge/engine/call_metrics.py).
CALLS_UP = Gauge("ringbridge_calls_up", "Calls the engine runs now (hunted, talking, "
                 "RingOuts), parked calls left out", multiprocess_mode="livesum")
# Every engine reads the same lots: the most any engine counts, not their sum.
PARKED_NOW = Gauge("ringbridge_parked_calls", "Calls in ringbridge's parking lots now",
                   multiprocess_mode="livemax")
# 0 while any engine's link is down (livemin): an engine cut off takes no calls.
ASTERISK_CONNECTED = Gauge("ringbridge_asterisk_connected", "1 while every engine's link "
                           "to Asterisk is up", ("link",), multiprocess_mode="livemin")
WAITING = Gauge("ringbridge_waiting_calls", "Calls in a ring group's waiting line now "
                "(every member busy or unreachable)", ("group",), multiprocess_mode="livesum")
OLDEST_WAITING = Gauge("ringbridge_oldest_waiting_seconds", "How long the call waiting "
                       "longest in a ring group's line has waited", ("group",),
                       multiprocess_mode="livemax")
ASTERISK_CONNECTS = Counter("ringbridge_asterisk_connects", "The engine's (re)connections "
                            "to Asterisk: more than one per start means the link dropped",
                            ("link",))
EXTENSION_CHANGES = Counter("ringbridge_extension_changes", "Attempts to push an "
                            "extension's endpoint to Asterisk or remove it: done, or failed "
                            "(retried)", ("action", "outcome"))
CONTACT_CHANGES = Counter("ringbridge_contact_changes", "Changes of phones' registrations "
                          "the engine heard from Asterisk: registered, refreshed, removed, "
                          "(un)reachable")
LOOP_LAG = Histogram("ringbridge_engine_loop_lag_seconds", "How late the engine's event "
                     "loop ran a one-second timer: time it could not give to calls",
                     buckets=FAST_BUCKETS)

ARI_LATENCY = Histogram("ringbridge_ari_request_seconds", "ARI requests of the engine, by "
                        "method and operation (/channels/{id}/dial...)",
                        ("method", "operation"), buckets=FAST_BUCKETS)

# Dispatch deliveries (bridge/dispatch/client.py), by event (invite, ringing...).
DISPATCH_ATTEMPTS = Counter("ringbridge_dispatch_attempts", "Attempts to deliver a "
                            "dispatch event: delivered, retried (to be tried again) or "
                            "failed (given up)", ("event", "outcome"))
DISPATCH_LATENCY = Histogram("ringbridge_dispatch_latency_seconds", "From sending a "
                             "dispatch event to the whole answer (or the attempt's end)",
                             ("event",), buckets=FAST_BUCKETS)
DISPATCH_ANSWERED = Histogram("ringbridge_dispatch_answered_seconds", "From the moment "
                              "on the call (for ringing: the phone's 180 as the engine "
                              "sees it) to the dispatcher's answer of the first attempt",
                              ("event",), buckets=FAST_BUCKETS)
DISPATCH_OUTBOX = Gauge("ringbridge_dispatch_outbox", "Dispatch events stored and not "
                        "delivered or given up yet", multiprocess_mode="livesum")

# The API (bridge/api/metrics_route.py).
API_REQUESTS = Counter("ringbridge_api_requests", "API requests answered",
                       ("route", "method", "status"))
API_LATENCY = Histogram("ringbridge_api_request_seconds", "Time to answer an API "
                        "request", ("route", "method"), buckets=FAST_BUCKETS)
LOGIN_FAILURES = Counter("ringbridge_login_failures", "Token requests refused: a wrong "
                         "password, a bad refresh token or JWT, a locked-out login",
                         ("endpoint", "status"))


def exposition() -> bytes:
    """Every metric of every process, in Prometheus' text format."""
    if ENVIRONMENT not in os.environ:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry)


def process_gone(pid: int) -> None:
    """A process of `serve` ended: its live gauges no longer count."""
    if ENVIRONMENT in os.environ:
        multiprocess.mark_process_dead(pid)
