"""The database tables (SQLAlchemy Core). Alembic migrations in hub/migrations create them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        found: datetime = value
        return found.replace(tzinfo=UTC) if found.tzinfo is None else found.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

agents = Table(
    "agents",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("login", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("email", String(320)),
    Column("role", String(16), nullable=False),
    Column("phone", String(32)),
    Column("phone_login", String(32)),
    Column("password_hash", String(200), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

contacts = Table(
    "contacts",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", String(200)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # Set when a dispatcher merged this passenger into another: the survivor owns everything.
    Column("merged_into_id", Uuid, ForeignKey("contacts.id")),
)

contact_identities = Table(
    "contact_identities",
    metadata,
    Column("kind", String(16), primary_key=True),
    Column("value", String(320), primary_key=True),
    Column("contact_id", Uuid, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_contact_identities_contact", "contact_id"),
)

contact_requests = Table(
    "contact_requests",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("number", BigInteger, nullable=False, unique=True),
    Column("reference", String(32), nullable=False, unique=True),
    Column("contact_id", Uuid, ForeignKey("contacts.id"), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("lane", String(64), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("details", JSON, nullable=False),
    Column("case_started_at", UtcDateTime, nullable=False),
    Column("queued_at", UtcDateTime),
    Column("service_started_at", UtcDateTime),
    Column("first_response_at", UtcDateTime),
    Column("ended_at", UtcDateTime),
    Column("last_message_at", UtcDateTime, nullable=False),
    Column("preview", String(200), nullable=False),  # first line of the latest inbound message
    Column("assigned_agent_id", Uuid, ForeignKey("agents.id")),
    Column("last_agent_id", Uuid, ForeignKey("agents.id")),
    Column("updated_at", UtcDateTime, nullable=False),
    # Grows with every change: consoles keep the newest state of a request whatever order
    # its events arrive in (a swept outbox row, two processes' relays).
    Column("version", BigInteger, nullable=False, server_default="1"),
    # An open offer: only this agent (or an admin) may claim until it expires.
    Column("offered_agent_id", Uuid, ForeignKey("agents.id")),
    Column("offer_expires_at", UtcDateTime),
    # The callback (hub.handling_callback): requested, then done once the passenger was
    # reached; null for a request that never asked. The rest describe the current one.
    Column("callback", String(16)),
    Column("callback_requested_at", UtcDateTime),  # this callback began (the first miss)
    Column("callback_due_at", UtcDateTime),
    Column("callback_number", String(32)),  # E.164; null: the passenger's own numbers
    Column("missed_calls", Integer, nullable=False, server_default="0"),
    Column("last_missed_at", UtcDateTime),
    Column("missed_wait_s", Integer),  # how long the last missed call rang
    Column("callback_called_at", UtcDateTime),  # the last "call now"
    Column("callback_attempts", Integer, nullable=False, server_default="0"),
    Column("callback_outcome", String(16)),
    Column("callback_outcome_at", UtcDateTime),
    Column("callback_done_at", UtcDateTime),
    # The five timings again as whole microseconds since the epoch (hub.epoch), null
    # exactly when the timing is: the reports' durations and local days are integer sums
    # over these, not a parse of every request's timestamps. Written with their timing by
    # hub.handling, and by whatever inserts a request (hub.epoch.timing_copies); UTC, so a
    # deployment that changes its timezone still gets its days right
    # (dispatch.report_local works the local day out at read time).
    Column("case_started_us", BigInteger),
    Column("queued_us", BigInteger),
    Column("service_started_us", BigInteger),
    Column("first_response_us", BigInteger),
    Column("ended_us", BigInteger),
    Index("ix_contact_requests_status_started", "status", "case_started_at"),
    Index("ix_contact_requests_offer", "offer_expires_at"),
    Index("ix_contact_requests_contact_status", "contact_id", "status"),
    # A passenger's requests, newest first (the card, the history).
    Index("ix_contact_requests_contact_started", "contact_id", "case_started_at"),
    # The open offers (few at any time, read by every offer round).
    Index("ix_contact_requests_offered", "offered_agent_id",
          sqlite_where=text("offered_agent_id IS NOT NULL"),
          postgresql_where=text("offered_agent_id IS NOT NULL")),
    # A lane's recent service starts (hub.wait_estimate).
    Index("ix_contact_requests_lane_service", "lane", "service_started_at"),
    # The requests started in a period, whatever their status (dispatch.report_facts).
    Index("ix_contact_requests_started", "case_started_at", "number"),
)
# The request list in queue order, one status at a time: a page deep in a long history is
# an index range, not a sort (dispatch/request_search.py queue_page).
Index("ix_contact_requests_queue", contact_requests.c.status,
      contact_requests.c.priority.desc(), contact_requests.c.case_started_at,
      contact_requests.c.id)

messages = Table(
    "messages",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("request_id", Uuid, ForeignKey("contact_requests.id"), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("direction", String(16), nullable=False),
    Column("idempotency_key", String(255)),
    Column("subject", String(500)),
    Column("body", Text, nullable=False),
    Column("details", JSON, nullable=False),
    Column("agent_id", Uuid, ForeignKey("agents.id")),
    Column("created_at", UtcDateTime, nullable=False),
    # SHA-256 of what an inbound message said: a retry under the same key must match it.
    Column("fingerprint", String(64)),
    UniqueConstraint("channel", "idempotency_key", name="uq_messages_channel_key"),
    Index("ix_messages_request", "request_id", "created_at"),
)

handling_events = Table(
    "handling_events",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("request_id", Uuid, ForeignKey("contact_requests.id"), nullable=False),
    Column("agent_id", Uuid, ForeignKey("agents.id"), nullable=False),
    Column("action", String(16), nullable=False),
    Column("target_agent_id", Uuid, ForeignKey("agents.id")),
    Column("note", Text),
    Column("at", UtcDateTime, nullable=False),
    Index("ix_handling_events_request", "request_id", "at"),
)

# Transactional outbox: a row is written in the same transaction as the change it announces
# and deleted once published to Redis, so a crash between commit and publish strands nothing.
outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    # The publish-once key, unique across databases; published rows are deleted by it.
    Column("key", String(36), nullable=False, unique=True),
    Column("stream", String(32), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

counters = Table(
    "counters",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("agent_id", Uuid, ForeignKey("agents.id")),
    Column("action", String(64), nullable=False),
    Column("subject", String(200)),
    Column("detail", JSON, nullable=False),
    Column("address", String(64)),  # the client's address, when the action came over HTTP
    # The hash chain (hub.audit_chain): the previous entry's hash and this one's.
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_agent_id", "agent_id", "id"),
    Index("ix_audit_log_subject", "subject", "id"),
)

# One row per recipient of an outbound message: what the sender did with it and what the
# gateway reported since. `lease_until` keeps two processes from sending the same row at once.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("message_id", Uuid, ForeignKey("messages.id"), nullable=False),
    Column("request_id", Uuid, ForeignKey("contact_requests.id"), nullable=False),
    Column("adapter", String(32), nullable=False),
    Column("recipient", String(320), nullable=False),
    Column("state", String(16), nullable=False),
    Column("provider_id", String(128)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("reason", Text),
    Column("next_attempt_at", UtcDateTime),
    Column("lease_until", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("adapter", "provider_id", name="uq_deliveries_adapter_provider"),
    Index("ix_deliveries_message", "message_id"),
    Index("ix_deliveries_due", "state", "next_attempt_at"),
)

# One row per outbound webhook event and endpoint: how its delivery went. Never the body
# (it holds the passenger's order) nor the endpoint's URL; `id` orders the admin's log.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("endpoint", String(40), nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("event_type", String(32), nullable=False),
    Column("request_id", Uuid, nullable=False),  # no foreign key: the log outlives a purge
    Column("state", String(16), nullable=False),  # pending, delivered, failed
    Column("attempts", Integer, nullable=False),
    Column("last_status", Integer),  # the receiver's last HTTP status, if it answered
    Column("last_error", String(64)),  # why the last attempt failed: timeout, connection, …
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_attempt_at", UtcDateTime),
    Column("finished_at", UtcDateTime),  # delivered or given up
    Column("next_attempt_at", UtcDateTime),  # a failing one's next attempt (about: jitter)
    UniqueConstraint("endpoint", "event_id", name="uq_webhook_deliveries_endpoint_event"),
    # One request's deliveries of one type (the console's order status).
    Index("ix_webhook_deliveries_request", "request_id", "event_type", "id"),
)

# Numbers that texted an opt-out keyword: no SMS is sent to them until they opt back in.
sms_opt_outs = Table(
    "sms_opt_outs",
    metadata,
    Column("phone", String(32), primary_key=True),
    Column("keyword", String(32), nullable=False),
    Column("at", UtcDateTime, nullable=False),
)

# Parts of concatenated SMS held until the set is complete (or its wait is over).
sms_parts = Table(
    "sms_parts",
    metadata,
    Column("gateway", String(16), primary_key=True),
    Column("part_id", String(128), primary_key=True),  # the gateway's id of this part
    Column("set_key", String(200), nullable=False),  # sender + concatenation reference
    Column("part", Integer, nullable=False),
    Column("total", Integer, nullable=False),
    Column("body", Text, nullable=False),
    Column("details", JSON, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Index("ix_sms_parts_set", "gateway", "set_key"),
    Index("ix_sms_parts_received", "received_at"),
)

# Where each polled IMAP mailbox was left: the next poll fetches UIDs above `last_uid`
# while UIDVALIDITY is unchanged.
imap_mailboxes = Table(
    "imap_mailboxes",
    metadata,
    Column("mailbox", String(400), primary_key=True),  # user@host:port/mailbox
    Column("uidvalidity", BigInteger, nullable=False),
    Column("last_uid", BigInteger, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# One row per phone call, whichever way the PBX reports it (generic CTI, Twilio, Asterisk
# AMI). State only moves forward: ringing -> answered -> ended.
calls = Table(
    "calls",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("provider", String(16), nullable=False),  # cti, twilio or ami
    Column("call_key", String(255), nullable=False),  # callId, CallSid or Linkedid
    Column("direction", String(8), nullable=False),  # in or out
    Column("caller", String(64), nullable=False),  # E.164 or 'anonymous'
    Column("called", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("cause", String(32)),
    Column("agent_id", Uuid, ForeignKey("agents.id")),  # who answered (or dialled out)
    Column("request_id", Uuid, ForeignKey("contact_requests.id"), nullable=False),
    Column("message_id", Uuid, ForeignKey("messages.id"), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("answered_at", UtcDateTime),
    Column("ended_at", UtcDateTime),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("provider", "call_key", name="uq_calls_provider_key"),
    Index("ix_calls_request", "request_id", "started_at"),
    # The timeline shows a call's own message as the call: "is this message a call's?"
    Index("ix_calls_message", "message_id"),
)

# Call recordings and voice messages: metadata only; the audio stays where the provider
# keeps it (`location`) and is streamed to a console on demand.
recordings = Table(
    "recordings",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("call_id", Uuid, ForeignKey("calls.id"), nullable=False),
    Column("request_id", Uuid, ForeignKey("contact_requests.id"), nullable=False),
    Column("kind", String(16), nullable=False),  # recording or voicemail
    Column("provider", String(16), nullable=False),
    Column("provider_id", String(128), nullable=False),  # e.g. Twilio's RecordingSid
    Column("location", Text, nullable=False),  # URL, or path relative to the data folder
    Column("duration_s", Integer),
    Column("completed_at", UtcDateTime),
    Column("transcription", Text),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("provider", "provider_id", name="uq_recordings_provider_id"),
    Index("ix_recordings_request", "request_id"),
)

# Every time someone played a recording: the id is the listen's own, unique, for the audit.
recording_listens = Table(
    "recording_listens",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("recording_id", Uuid, ForeignKey("recordings.id"), nullable=False),
    Column("agent_id", Uuid, ForeignKey("agents.id"), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Index("ix_recording_listens_recording", "recording_id", "at"),
)

lanes = Table(
    "lanes",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("name_fi", String(100), nullable=False),
    Column("name_en", String(100), nullable=False),
    Column("position", Integer, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("strategy", String(16), nullable=False),  # manual | offer
    Column("offer_timeout_s", Integer, nullable=False),
    Column("last_agent_window_s", Integer, nullable=False),  # 0: no preference
    Column("capacity", Integer, nullable=False),  # open requests per dispatcher, 0: no limit
    Column("target_wait_s", Integer, nullable=False),
    # {"timezone": "Europe/Helsinki", "week": {"mon": [["07:00", "22:00"]], ...},
    #  "closed_dates": ["2026-12-25"]}; an empty "week" means always open.
    Column("opening_hours", JSON, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

routing_rules = Table(
    "routing_rules",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("position", Integer, nullable=False),
    Column("lane", String(64), ForeignKey("lanes.key", ondelete="CASCADE"), nullable=False),
    Column("channel", String(16)),
    Column("contacted", String(320)),  # the number or address the passenger contacted
    Column("keywords", JSON, nullable=False),  # any of these words in subject or text
    Column("form", String(64)),
    Column("active", Boolean, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

canned_replies = Table(
    "canned_replies",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("title", String(100), nullable=False),
    Column("language", String(8), nullable=False),
    Column("body", Text, nullable=False),
    Column("lane", String(64), ForeignKey("lanes.key", ondelete="SET NULL")),
    Column("position", Integer, nullable=False),
    Column("updated_by", Uuid, ForeignKey("agents.id")),
    Column("updated_at", UtcDateTime, nullable=False),
)

# A service notice (snowstorm, outage, strike): every inbound contact on its channels and
# lanes is answered with it, once per passenger (notice_answers).
notices = Table(
    "notices",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("text_fi", Text, nullable=False),
    Column("text_en", Text, nullable=False),
    Column("text_sv", Text),  # optional: Finnish is given to Swedish speakers without it
    Column("channels", JSON, nullable=False),
    Column("lanes", JSON, nullable=False),  # empty: every lane
    # Phone: answer with the notice and store nothing about the caller.
    Column("announcement_only", Boolean, nullable=False),
    Column("valid_from", UtcDateTime, nullable=False),
    Column("valid_until", UtcDateTime),
    Column("created_by", Uuid, ForeignKey("agents.id"), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("ended_at", UtcDateTime),
    Column("ended_by", Uuid, ForeignKey("agents.id")),
    Index("ix_notices_valid", "valid_from", "valid_until"),
)

notice_answers = Table(
    "notice_answers",
    metadata,
    Column("notice_id", Uuid, ForeignKey("notices.id"), primary_key=True),
    Column("contact_id", Uuid, ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    Column("channel", String(16), nullable=False),
    Column("at", UtcDateTime, nullable=False),
)

answer_templates = Table(
    "answer_templates",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("kind", String(32), nullable=False),  # acknowledgement | out_of_hours
    Column("lane", String(64), ForeignKey("lanes.key", ondelete="CASCADE")),  # null: every lane
    Column("language", String(8), nullable=False),
    Column("body", Text, nullable=False),
    Column("updated_by", Uuid, ForeignKey("agents.id")),
    Column("updated_at", UtcDateTime, nullable=False),
)

staff_groups = Table(
    "staff_groups",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

group_members = Table(
    "group_members",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("group_id", Uuid, ForeignKey("staff_groups.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("phone", String(32)),  # E.164
    Column("email", String(320)),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_group_members_group", "group_id"),
    Index("ix_group_members_phone", "phone"),
    Index("ix_group_members_email", "email"),
)

# A message to a group is a request of its own (the thread members' replies join).
group_messages = Table(
    "group_messages",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("group_id", Uuid, ForeignKey("staff_groups.id"), nullable=False),
    Column("request_id", Uuid, ForeignKey("contact_requests.id"), nullable=False),
    Column("channels", JSON, nullable=False),
    Column("created_by", Uuid, ForeignKey("agents.id"), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_group_messages_group", "group_id", "created_at"),
)
