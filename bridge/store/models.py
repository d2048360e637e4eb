"""SQLAlchemy models. Schema changes go through Alembic (bridge/store/migrations)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from bridge.store.ids import new_id


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime) -> datetime:
    """A naive datetime read as UTC (SQLite hands ours back naive; all are UTC)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class Tenant(Base):
    """A company: the dispatch `companyId`. Everything else belongs to one tenant."""

    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, default=new_id)
    company_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    region: Mapped[str] = mapped_column(String(2), default="US")
    sip_domain: Mapped[str] = mapped_column(String(253), unique=True)
    # IANA name: the offset of the times in its dispatch events.
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    # Call recordings and voicemails are deleted this many days after the call.
    recording_retention_days: Mapped[int] = mapped_column(Integer, default=90,
                                                          server_default="90")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class User(Base):
    """A person or API client of a tenant: the VoIPNow `@me`; owns extensions."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("tenant_id", "username"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, default=new_id)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"),
                                           index=True)
    username: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(128))
    password_hash: Mapped[str | None] = mapped_column(String(256))
    # admin: reaches every extension of the tenant; user: only the extensions it owns.
    role: Mapped[str] = mapped_column(String(8), default="user", server_default="user")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored (tokens are 256-bit random)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, default=new_id)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"),
                                           index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="api")
    label: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The OAuth login an access or refresh token comes from (the id of its first token):
    # every pair refreshed from it shares it, and revoking one token revokes them all.
    family_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class JwtSigningKey(Base):
    """The key a tenant's JWT credentials are signed with (HS256), made when first needed."""

    __tablename__ = "jwt_signing_keys"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    secret: Mapped[str] = mapped_column(String(64))  # 32 random bytes, hex
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class JwtCredential(Base):
    """A JWT credential of a user, for the JWT bearer grant: its `id` is the JWT's `jti`.
    The JWT itself is not stored; revoking the row ends it."""

    __tablename__ = "jwt_credentials"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, default=new_id)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"),
                                           index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         index=True)
    label: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Extension(Base):
    """A number + a SIP endpoint (`<number>@<tenant sip domain>`) + an optional agent id."""

    __tablename__ = "extensions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "extension_number"),
        UniqueConstraint("tenant_id", "agent_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, default=new_id)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"),
                                           index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    extension_number: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str | None] = mapped_column(String(128))
    agent_id: Mapped[str | None] = mapped_column(String(254))
    sip_password: Mapped[str] = mapped_column(String(128))
    caller_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Paused (agent availability): no ring group rings it until it is resumed
    # (bridge/services/pauses.py).
    paused_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    pause_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)

    tenant: Mapped[Tenant] = relationship(lazy="joined")
    forwarding_numbers: Mapped[list[ForwardingNumber]] = relationship(
        order_by="ForwardingNumber.position", cascade="all, delete-orphan", lazy="selectin",
    )


class ForwardingNumber(Base):
    """A number RingOut may ring first (`from.forwardingNumberId`); one may be the default."""

    __tablename__ = "forwarding_numbers"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, default=new_id)
    extension_id: Mapped[int] = mapped_column(
        ForeignKey("extensions.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(32))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)


class RingGroup(Base):
    """A number that rings a list of extensions (PortSIP's ring group).

    `did_numbers` is our addition: carrier DIDs routed to the group, each held by at
    most one group across all tenants (checked by the service: it is a JSON list).
    """

    __tablename__ = "ring_groups"
    __table_args__ = (
        UniqueConstraint("tenant_id", "extension_number"),
        # Lists filtered by strategy (and number prefix): 10,000 groups, see bench/.
        Index("ix_ring_groups_strategy", "tenant_id", "ring_strategy", "extension_number"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, default=new_id)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"),
                                           index=True)
    name: Mapped[str] = mapped_column(String(64))
    extension_number: Mapped[str] = mapped_column(String(64))
    ring_time: Mapped[int] = mapped_column(Integer, default=20)
    ring_strategy: Mapped[str] = mapped_column(String(40))
    skip_busy_member: Mapped[bool] = mapped_column(Boolean, default=False)
    enable_paid: Mapped[bool] = mapped_column(Boolean, default=False)
    enable_prid: Mapped[bool] = mapped_column(Boolean, default=False)
    extension_number_as_to_header: Mapped[bool] = mapped_column(Boolean, default=False)
    no_answer_action: Mapped[str | None] = mapped_column(String(32))
    no_answer_number: Mapped[str | None] = mapped_column(String(64))
    outbound_caller_ids: Mapped[list[dict[str, str | None]]] = mapped_column(JSON,
                                                                             default=list)
    queue_id: Mapped[str | None] = mapped_column(String(254))
    queue_type: Mapped[str | None] = mapped_column(String(16))
    did_numbers: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Seconds a call may wait in the group's waiting line when no member is free; 0: the
    # no-answer rule applies at once (bridge/flows/waiting_line.py).
    max_wait_time: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Answered calls are recorded (Asterisk records the bridge; bridge/flows/hunt_recordings.py).
    record_calls: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)

    members: Mapped[list[RingGroupMember]] = relationship(
        order_by="RingGroupMember.position", cascade="all, delete-orphan",
    )


class RingGroupMember(Base):
    """An extension in a ring group; `position` is the hunt order."""

    __tablename__ = "ring_group_members"
    __table_args__ = (UniqueConstraint("ring_group_id", "extension_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, default=new_id)
    ring_group_id: Mapped[int] = mapped_column(
        ForeignKey("ring_groups.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    extension_id: Mapped[int] = mapped_column(
        ForeignKey("extensions.id", ondelete="CASCADE"), index=True)
    skill_level: Mapped[int] = mapped_column(Integer, default=1)

    extension: Mapped[Extension] = relationship(lazy="joined")


class DirectoryGeneration(Base):
    """One row whose number goes up in every transaction that changes what a call is
    routed by (tenants, extensions, ring groups and members, dispatch settings), so that
    every process caching routes knows, with one read, whether its copy is still good
    (bridge/store/directory_changes.py)."""

    __tablename__ = "directory_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, default=0)


class HuntStat(Base):
    """Hunt memory of one member of one group: when it last rang, when it last answered.

    In the database (not in memory) so it survives restarts and is shared by every
    ringbridge node on the same database (cyclic and least-worked hunts read it).
    """

    __tablename__ = "hunt_stats"

    ring_group_id: Mapped[int] = mapped_column(
        ForeignKey("ring_groups.id", ondelete="CASCADE"), primary_key=True)
    extension_id: Mapped[int] = mapped_column(
        ForeignKey("extensions.id", ondelete="CASCADE"), primary_key=True)
    last_rung_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CallRecord(Base):
    """One call through the bridge: where it came from, who answered, how it ended."""

    __tablename__ = "call_records"

    call_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    ring_group_id: Mapped[int | None] = mapped_column(BigInteger)
    caller: Mapped[str] = mapped_column(String(64), default="")
    dialled: Mapped[str] = mapped_column(String(64), default="")
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    answered_by: Mapped[str | None] = mapped_column(String(64))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    end_reason: Mapped[str | None] = mapped_column(String(256))
    end_cause: Mapped[int | None] = mapped_column(Integer)
    # What the dispatcher's `invite` answered (customer/driver ids, priority, tags...).
    dispatch_snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The ARI stored recording of the call (a recorded call or a voicemail), until the
    # tenant's retention deletes it.
    recording: Mapped[str | None] = mapped_column(String(128))

    steps: Mapped[list[CallStep]] = relationship(
        order_by="CallStep.id", cascade="all, delete-orphan")


class CallStep(Base):
    """One step of a call's path (arrived, ringing 3012, answered, ended, ...)."""

    __tablename__ = "call_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(
        ForeignKey("call_records.call_id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[str] = mapped_column(String(512), default="")


class DispatchSettings(Base):
    """Where and how a tenant's dispatch system gets call events (one row per tenant)."""

    __tablename__ = "dispatch_settings"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    base_url: Mapped[str] = mapped_column(String(512))
    company_in_path: Mapped[bool] = mapped_column(Boolean, default=False)
    company_in_query: Mapped[bool] = mapped_column(Boolean, default=False)
    events: Mapped[list[str]] = mapped_column(JSON)
    invite_timeout_ms: Mapped[int] = mapped_column(Integer)
    ringing_timeout_ms: Mapped[int] = mapped_column(Integer)
    delivery_timeout_ms: Mapped[int] = mapped_column(Integer)
    retry_seconds: Mapped[int] = mapped_column(Integer)
    signing_secret: Mapped[str | None] = mapped_column(String(128))
    headers: Mapped[dict[str, str]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)


class DispatchDelivery(Base):
    """One event sent (or being sent) to a dispatch system: the delivery log and outbox.

    Events that are retried are stored before their first attempt, so a restart of
    ringbridge resumes them (`state` pending), or another node once their claim lapses.
    """

    __tablename__ = "dispatch_deliveries"
    __table_args__ = (Index("ix_dispatch_deliveries_pending", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    webhook_id: Mapped[str] = mapped_column(String(40), unique=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"),
                                           index=True)
    call_id: Mapped[str] = mapped_column(String(32), index=True)
    event: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(8))
    url: Mapped[str] = mapped_column(String(2048))
    body: Mapped[str | None] = mapped_column(String(8192))
    # pending (to be retried), delivered, failed (given up or not retried)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    http_status: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    answer: Mapped[str | None] = mapped_column(String(2048))
    location: Mapped[str | None] = mapped_column(String(512))
    error: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    give_up_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The node (ringbridge process) sending a pending delivery, while its claim is
    # renewed; another node resumes the delivery only once `claimed_until` has passed.
    claimed_by: Mapped[str | None] = mapped_column(String(32))
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A telephony-session notification of a RingCentral-style subscription (None: a
    # dispatch event): sent to the subscription's address, signed with its secret.
    subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True)


class RingOut(Base):
    """A RingOut (two-leg click-to-call): its request and each leg's status.

    `id` is also the engine's call id (as text), so the call's steps in `call_records`,
    its channels (`rb-<id>-1`, `rb-<id>-2`) and its bridge (`rb-<id>`) all carry it.
    """

    __tablename__ = "ringouts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, default=new_id)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"),
                                           index=True)
    extension_id: Mapped[int] = mapped_column(
        ForeignKey("extensions.id", ondelete="CASCADE"), index=True)
    from_number: Mapped[str] = mapped_column(String(64))
    to_number: Mapped[str] = mapped_column(String(64))
    caller_id: Mapped[str] = mapped_column(String(64))
    play_prompt: Mapped[bool] = mapped_column(Boolean, default=False)
    call_status: Mapped[str] = mapped_column(String(24), default="InProgress")
    caller_status: Mapped[str] = mapped_column(String(24), default="InProgress")
    callee_status: Mapped[str] = mapped_column(String(24), default="InProgress")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)


class Subscription(Base):
    """A RingCentral-style WebHook subscription to telephony session events.

    `extension_ids` are the extensions whose sessions it follows; empty with
    `account_level` set: every session of the tenant. `event_filters` are kept as the
    client wrote them (answered back as they were given).
    """

    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, default=new_id)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"),
                                           index=True)
    # Whose it is: the token's user; None for the tenant-wide tokens' subscriptions.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                                index=True)
    event_filters: Mapped[list[str]] = mapped_column(JSON)
    account_level: Mapped[bool] = mapped_column(Boolean, default=False)
    extension_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    address: Mapped[str] = mapped_column(String(2048))
    verification_token: Mapped[str | None] = mapped_column(String(64))
    signing_secret: Mapped[str | None] = mapped_column(String(64))
    lifetime: Mapped[int] = mapped_column(Integer)  # seconds each renewal gives
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class LoginFailure(Base):
    """One failed login attempt, counted against a key (an account or a client
    address) for a minute: bridge/api/shared_login_limits.py. Every API process of
    every ringbridge on this database counts the same failures."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64), index=True)  # a SHA-256, hex
    at: Mapped[float] = mapped_column(Float, index=True)  # seconds since the epoch


class WaitingCall(Base):
    """A call in a ring group's waiting line, when several engines share an Asterisk or
    a cluster (bridge/services/waiting_calls.py): the line's order is theirs together.
    Each engine keeps the turns of its own calls; the first in line is read here."""

    __tablename__ = "waiting_calls"

    call_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    ring_group_id: Mapped[int] = mapped_column(
        ForeignKey("ring_groups.id", ondelete="CASCADE"), index=True)
    rank: Mapped[int] = mapped_column(Integer)  # the priority's place (urgent 0 ... low 3)
    joined_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Whose call: the Asterisk (its ARI URL), or "cluster" for a cluster's one line per
    # group; and the engine (its ARI app, or in a cluster its lease's label).
    asterisk: Mapped[str] = mapped_column(String(256))
    engine: Mapped[str] = mapped_column(String(64), index=True)
