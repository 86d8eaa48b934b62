"""Tables, as SQLAlchemy Core objects. Alembic migrations create them.

Times are stored as RFC 3339 UTC strings in the statement time format
(``format_time``): fixed width, so they sort and compare as text on SQLite and
PostgreSQL alike.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = [
    "alarms",
    "api_keys",
    "audit",
    "checkpoints",
    "cosignatures",
    "escalation_policies",
    "escalation_steps",
    "glossaries",
    "hotline_items",
    "hotline_names",
    "hotline_statements",
    "hotline_tallies",
    "hotline_threads",
    "idempotency_keys",
    "link_terms",
    "link_test_schedules",
    "link_tests",
    "log_hashes",
    "log_leaves",
    "log_state",
    "login_failures",
    "message_seen",
    "metadata",
    "notices",
    "notifications",
    "notify_attempts",
    "notify_recipients",
    "operator_sessions",
    "operators",
    "outbox",
    "peer_hashes",
    "peer_leaves",
    "peers",
    "sequences",
    "statements",
    "translations",
]

metadata = MetaData()

# Peers this node has pinned: their keys and TLS certificate, exchanged out of band.
peers = Table(
    "peers",
    metadata,
    Column("party", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("signing_key", String(64), nullable=False),
    Column("log_vkey", Text, nullable=False),
    Column("witness_vkey", Text, nullable=False),
    Column("cert_pem", Text, nullable=False),
    Column("cert_sha256", String(64), nullable=False, unique=True),
    Column("url", Text, nullable=False),
    Column("added_at", String(32), nullable=False),
    # The witness has looked for undelivered statements in this peer's log up
    # to here (exclusive); each checkpoint looks only at the leaves past it.
    Column("undelivered_checked", BigInteger, nullable=False, server_default="0"),
    # The link to this peer, as the delivery worker last found it (NULL: never):
    # the last exchange that succeeded (a push answered with receipts, or a
    # pull), since when every attempt has failed, the last failure's error and
    # when the worker tries again. A success clears the last three.
    Column("last_exchange_at", String(32), nullable=True),
    Column("failing_since", String(32), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("next_attempt_at", String(32), nullable=True),
)

# Every statement this node signed (out) or accepted from a peer (in).
statements = Table(
    "statements",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("direction", String(3), nullable=False),
    Column("peer", String(32), nullable=False),
    Column("sender", String(32), nullable=False),
    Column("recipient", String(32), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("stream", String(16), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("time", String(32), nullable=False),
    Column("wire", LargeBinary, nullable=False),
    Column("state", String(16), nullable=False),
    Column("receipt_id", String(64), nullable=True),
    # For a message (either way): the addressee operator's signed acknowledgement
    # (an ``ack`` statement), once there is one. A receipt is the node's; this
    # is a person's.
    Column("ack_id", String(64), nullable=True),
    Column("stored_at", String(32), nullable=False),
    Column("delivered_at", String(32), nullable=True),
    # For out: the index of its leaf in this node's log. For in: the index in the
    # sender's log, as the sender claimed it or proved it while being witnessed.
    Column("leaf_index", BigInteger, nullable=True),
    # For in: the sender's leaf record, and the sender's checkpoint that first
    # included it (set by the witness once it found the leaf; NULL until then).
    Column("leaf_record", LargeBinary, nullable=True),
    Column("proof_checkpoint_id", Integer, nullable=True),
    UniqueConstraint("direction", "peer", "stream", "seq", name="uq_statements_stream_seq"),
)
Index("ix_statements_receipt", statements.c.receipt_id)
# The messages not yet acknowledged (the board's list) without reading every statement.
Index("ix_statements_kind_ack", statements.c.kind, statements.c.ack_id)
# The paged listings (statements in the order stored, messages by signed time)
# read an index range from the last row's key: no OFFSET over a big table.
Index("ix_statements_stored", statements.c.stored_at, statements.c.id)
Index("ix_statements_kind_time", statements.c.kind, statements.c.time, statements.c.id)
# The witness looks up the statements a peer sent that its log has not yet shown.
Index(
    "ix_statements_unproven",
    statements.c.direction,
    statements.c.peer,
    statements.c.proof_checkpoint_id,
)

# Statements waiting for a peer's signed receipt. Each failed attempt on the
# peer counts on every row queued for it, with the error and the next attempt
# time; the worker tries the peer again when the head of its queue says so.
outbox = Table(
    "outbox",
    metadata,
    Column("statement_id", String(64), ForeignKey("statements.id"), primary_key=True),
    Column("peer", String(32), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", String(32), nullable=False),
    Column("last_error", Text, nullable=True),
)
Index("ix_outbox_peer_seq", outbox.c.peer, outbox.c.seq)

# The last sequence number used per (peer, stream) for statements this node signs.
sequences = Table(
    "sequences",
    metadata,
    Column("peer", String(32), primary_key=True),
    Column("stream", String(16), primary_key=True),
    Column("last_seq", BigInteger, nullable=False),
)

# The node's own Merkle log (RFC 9162): one leaf per statement it signed.
log_state = Table(
    "log_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("size", BigInteger, nullable=False),
)
log_leaves = Table(
    "log_leaves",
    metadata,
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    # No foreign key: the leaf is written first, then the statement row naming its index.
    Column("statement_id", String(64), nullable=False, unique=True),
    Column("record", LargeBinary, nullable=False),
)
# Stored hashes in Go tlog's numbering (StoredHashIndex): O(log n) reads per proof.
log_hashes = Table(
    "log_hashes",
    metadata,
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary, nullable=False),
)

# This node's copy of each peer's log, as witnessed: every leaf record and the
# tlog stored hashes over them. With it the witness recomputes the peer's root,
# finds each statement it received, and can later show the whole log.
peer_leaves = Table(
    "peer_leaves",
    metadata,
    Column("party", String(32), primary_key=True),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("statement_id", String(64), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("recipient", String(32), nullable=False),
    Column("time", String(32), nullable=False),
    Column("record", LargeBinary, nullable=False),
)
Index("ix_peer_leaves_statement", peer_leaves.c.party, peer_leaves.c.statement_id)
peer_hashes = Table(
    "peer_hashes",
    metadata,
    Column("party", String(32), primary_key=True),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary, nullable=False),
)

# Signed checkpoints: this node's own (origin = own log) and its peers' (witnessed).
checkpoints = Table(
    "checkpoints",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("party", String(32), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("root_hash", LargeBinary, nullable=False),
    Column("note", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
    UniqueConstraint("party", "size", "root_hash", name="uq_checkpoints_party_size_root"),
)

# Cosignature lines a witness returned for a checkpoint.
cosignatures = Table(
    "cosignatures",
    metadata,
    Column("checkpoint_id", Integer, ForeignKey("checkpoints.id"), primary_key=True),
    Column("witness", String(32), primary_key=True),
    Column("line", Text, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
)

# Conditions an operator must see: equivocation, unanswered link tests, gaps.
# One open alarm per condition (kind, peer and what names it within them: a
# checkpoint size, a statement id); seeing it again bumps ``count`` and
# ``last_seen`` and keeps the first message and evidence, so a peer that
# repeats itself cannot flood the table. ``raised_at`` is when it was first seen.
alarms = Table(
    "alarms",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("peer", String(32), nullable=False),
    Column("message", Text, nullable=False),
    Column("evidence", Text, nullable=True),
    Column("raised_at", String(32), nullable=False),
    Column("cleared_at", String(32), nullable=True),
    Column("condition", String(200), nullable=False),
    Column("last_seen", String(32), nullable=False),
    Column("count", BigInteger, nullable=False, server_default="1"),
)
Index(
    "ux_alarms_open_condition",
    alarms.c.kind,
    alarms.c.peer,
    alarms.c.condition,
    unique=True,
    sqlite_where=alarms.c.cleared_at.is_(None),
    postgresql_where=alarms.c.cleared_at.is_(None),
)

# The hotline projection (core.hotline.threads; DESIGN.md "State: applied once,
# read many times"). Each hotline statement belongs to one thread (NULL: a
# global statement every thread folds over); storing one re-folds its thread
# and rewrites that thread's items, in the same transaction.
hotline_statements = Table(
    "hotline_statements",
    metadata,
    Column("statement_id", String(64), ForeignKey("statements.id"), primary_key=True),
    Column("thread", String(100), nullable=True),
    Column("time", String(32), nullable=False),
    # Why the fold gave it no effect (two acts crossed), or NULL.
    Column("refused", Text, nullable=True),
)
Index("ix_hotline_statements_thread", hotline_statements.c.thread, hotline_statements.c.time)
# Only the refused ones: the board lists the latest of them.
Index(
    "ix_hotline_statements_refused",
    hotline_statements.c.time,
    sqlite_where=hotline_statements.c.refused.is_not(None),
    postgresql_where=hotline_statements.c.refused.is_not(None),
)

# Which thread each item name (``request:<id>``, ``call:<id>``, ...) belongs to.
hotline_names = Table(
    "hotline_names",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("thread", String(100), nullable=False),
)

hotline_threads = Table(
    "hotline_threads",
    metadata,
    Column("thread", String(100), primary_key=True),
    # What the thread's first item is (the prefix of its name): request, call, ...
    Column("kind", String(16), nullable=False),
    Column("last_time", String(32), nullable=False),
    # Set by the migration that built the index for an existing database: the
    # node folds the thread and writes its items when it next starts.
    Column("stale", Boolean, nullable=False),
)
Index("ix_hotline_threads_last_time", hotline_threads.c.last_time)
Index("ix_hotline_threads_kind", hotline_threads.c.kind, hotline_threads.c.last_time)
Index("ix_hotline_threads_stale", hotline_threads.c.stale)

# Each item's state as of its thread's last statement (core ItemState).
hotline_items = Table(
    "hotline_items",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("thread", String(100), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("from_party", String(32), nullable=False),
    Column("to_party", String(32), nullable=False),
    Column("from_office", String(100), nullable=False),
    Column("to_office", String(100), nullable=False),
    Column("state", String(16), nullable=False),
    Column("open", Boolean, nullable=False),
    Column("due_at", String(32), nullable=True),
    Column("contact_at", String(32), nullable=True),
    Column("at", String(32), nullable=False),
)
Index("ix_hotline_items_thread", hotline_items.c.thread)
Index("ix_hotline_items_open", hotline_items.c.open, hotline_items.c.due_at)
Index("ix_hotline_items_contact", hotline_items.c.contact_at)

# How many closed requests and calls to each party ended in each state, kept
# as items close and reopen, so the board's tallies do not count every row.
hotline_tallies = Table(
    "hotline_tallies",
    metadata,
    Column("to_party", String(32), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("state", String(16), primary_key=True),
    Column("count", BigInteger, nullable=False),
)

# Operator POSTs carrying an ``Idempotency-Key`` header (web/idempotency.py):
# the first request with a key reserves it (``status`` NULL while it runs), and
# its answer is kept so a retry gets the same answer without acting twice.
# ``fingerprint`` is the SHA-256 of the method, path and body. Kept 24 hours.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("status", Integer, nullable=True),
    Column("content_type", String(100), nullable=True),
    Column("body", LargeBinary, nullable=True),
)
Index("ix_idempotency_keys_created_at", idempotency_keys.c.created_at)

# The people who run the node (service/operators.py): a watch officer handles the
# node's traffic, a principal acts for the offices named in ``offices`` (a JSON
# list), an admin manages operators. ``password_hash`` is argon2id; a TOTP
# secret, once enrolled, is asked for at every sign-in; ``totp_last_step`` is
# the time step of the last code a sign-in used, so no code is used twice.
# ``zone`` is the operator's IANA time zone for the console (NULL: the node's).
operators = Table(
    "operators",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("offices", Text, nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("totp_secret", String(64), nullable=True),
    Column("totp_required", Boolean, nullable=False),
    Column("lang", String(16), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("totp_last_step", BigInteger, nullable=True),
    Column("zone", String(64), nullable=True),
)

# Console sessions, server-side: the cookie holds a random token, the table its
# SHA-256 (a copy of the database signs no one in). Idle and absolute expiry are
# checked against ``last_seen_at`` and ``created_at``.
operator_sessions = Table(
    "operator_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("operator", String(64), ForeignKey("operators.name"), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("last_seen_at", String(32), nullable=False),
)
Index("ix_operator_sessions_operator", operator_sessions.c.operator)

# Named API keys: a script's bearer token, per operator, kept as its SHA-256.
api_keys = Table(
    "api_keys",
    metadata,
    Column("key_hash", String(64), primary_key=True),
    Column("operator", String(64), ForeignKey("operators.name"), nullable=False),
    Column("label", String(100), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("last_used_at", String(32), nullable=True),
    UniqueConstraint("operator", "label", name="uq_api_keys_operator_label"),
)

# What operators did: sign-in (and failed attempts), sign-out, and each act.
audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", String(32), nullable=False),
    Column("operator", String(64), nullable=True),
    Column("action", String(32), nullable=False),
    Column("target", Text, nullable=False),
    Column("client", String(64), nullable=False),
)
Index("ix_audit_at", audit.c.at)

# Failed sign-ins per operator name and per client address (``key`` is
# ``operator:NAME`` or ``client:ADDRESS``): after a few, each attempt waits
# twice as long as the one before (``blocked_until``).
login_failures = Table(
    "login_failures",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("blocked_until", String(32), nullable=False),
)

# -- message handling (docs/messages.md) ------------------------------------------

# Handling times a party proposed for a link (``link-terms``, either way) and,
# once the other party signed ``link-terms-accept``, the acceptance.
link_terms = Table(
    "link_terms",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("peer", String(32), nullable=False),
    Column("proposer", String(32), nullable=False),
    Column("deadlines", Text, nullable=False),
    Column("time", String(32), nullable=False),
    Column("accept_id", String(64), nullable=True),
    Column("accepted_at", String(32), nullable=True),
)
Index("ix_link_terms_peer", link_terms.c.peer, link_terms.c.accepted_at)

# The ``seen`` receipt of a message (either way): an operator opened it.
message_seen = Table(
    "message_seen",
    metadata,
    Column("message_id", String(64), primary_key=True),
    Column("seen_id", String(64), nullable=False),
    Column("time", String(32), nullable=False),
)

# Each link's escalation policy per precedence (absent: the default).
escalation_policies = Table(
    "escalation_policies",
    metadata,
    Column("peer", String(32), primary_key=True),
    Column("precedence", String(16), primary_key=True),
    Column("steps", Text, nullable=False),
    Column("updated_at", String(32), nullable=False),
    Column("updated_by", String(64), nullable=True),
)

# Every escalation step taken, once per (message, step of the policy).
escalation_steps = Table(
    "escalation_steps",
    metadata,
    Column("message_id", String(64), primary_key=True),
    Column("step", Integer, primary_key=True),
    Column("action", String(32), nullable=False),
    Column("at", String(32), nullable=False),
    Column("detail", Text, nullable=False),
    Column("statement_id", String(64), nullable=True),
)

# Who notifications reach off the watch floor: a webhook URL or an email address.
notify_recipients = Table(
    "notify_recipients",
    metadata,
    Column("name", String(80), primary_key=True),
    Column("channel", String(16), nullable=False),
    Column("address", String(500), nullable=False),
    Column("duty", Boolean, nullable=False),
    Column("created_at", String(32), nullable=False),
)

# Notifications to send, retried with backoff until sent or given up.
notifications = Table(
    "notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", String(32), nullable=False),
    Column("recipient", String(80), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("address", String(500), nullable=False),
    Column("subject", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_at", String(32), nullable=False),
    Column("last_error", Text, nullable=True),
    Column("sent_at", String(32), nullable=True),
)
Index("ix_notifications_due", notifications.c.state, notifications.c.next_at)

# Each attempt to send a notification: when, which channel, to whom, the outcome.
notify_attempts = Table(
    "notify_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("notification_id", Integer, ForeignKey("notifications.id"), nullable=False),
    Column("at", String(32), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("recipient", String(80), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("error", Text, nullable=True),
)
Index("ix_notify_attempts_notification", notify_attempts.c.notification_id)

# Link tests (core.linktests): every heartbeat and operator test this node sent
# (``out``) or received (``in``), keyed by the test statement's id. ``state``
# is sent, answered or unanswered; ``missed`` says why one went unanswered
# (unreachable: no receipt for it; not-answered: received, nobody answered).
# ``day`` is the local day an operator test was sent for (one a day per link).
link_tests = Table(
    "link_tests",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("peer", String(32), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("direction", String(3), nullable=False),
    Column("sent_at", String(32), nullable=False),
    Column("due_at", String(32), nullable=False),
    Column("state", String(16), nullable=False),
    Column("missed", String(16), nullable=True),
    Column("day", String(10), nullable=True),
    Column("answered_at", String(32), nullable=True),
    Column("answer_id", String(64), nullable=True),
)
Index("ix_link_tests_open", link_tests.c.state, link_tests.c.due_at)
Index(
    "ix_link_tests_peer_kind",
    link_tests.c.peer,
    link_tests.c.kind,
    link_tests.c.direction,
    link_tests.c.sent_at,
)

# Each link's own test schedule, where an operator set one (NULL: the node's setting).
link_test_schedules = Table(
    "link_test_schedules",
    metadata,
    Column("peer", String(32), primary_key=True),
    Column("operator_test_time", String(5), nullable=True),
    Column("zone", String(64), nullable=True),
    Column("heartbeat_interval_seconds", Integer, nullable=True),
    Column("updated_at", String(32), nullable=False),
)

# -- notices and translations (docs/notices.md) -------------------------------------

# Every ``notice`` (either way), by its signed time, for the paged listing.
notices = Table(
    "notices",
    metadata,
    Column("statement_id", String(64), ForeignKey("statements.id"), primary_key=True),
    Column("peer", String(32), nullable=False),
    Column("direction", String(3), nullable=False),
    Column("type", String(32), nullable=False),
    Column("time", String(32), nullable=False),
)
Index("ix_notices_time", notices.c.time, notices.c.statement_id)

# Every advisory ``translation`` (either way) of a statement.
translations = Table(
    "translations",
    metadata,
    Column("statement_id", String(64), ForeignKey("statements.id"), primary_key=True),
    Column("original_id", String(64), nullable=False),
    Column("lang", String(35), nullable=False),
    Column("method", String(16), nullable=False),
    Column("time", String(32), nullable=False),
)
Index("ix_translations_original", translations.c.original_id, translations.c.time)

# Glossaries proposed on a link (either way) and, once the other party signed
# ``glossary-accept``, the acceptance: only accepted entries apply.
glossaries = Table(
    "glossaries",
    metadata,
    Column("statement_id", String(64), ForeignKey("statements.id"), primary_key=True),
    Column("peer", String(32), nullable=False),
    Column("proposer", String(32), nullable=False),
    Column("time", String(32), nullable=False),
    Column("accept_id", String(64), nullable=True),
    Column("accepted_at", String(32), nullable=True),
)
Index("ix_glossaries_peer", glossaries.c.peer, glossaries.c.time)
