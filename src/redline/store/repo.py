"""Queries on a node's tables, by the name callers have long used.

The queries live in one module per aggregate: :mod:`redline.store.peers`,
:mod:`redline.store.statements`, :mod:`redline.store.outbox`,
:mod:`redline.store.logs`, :mod:`redline.store.record` and
:mod:`redline.store.alarms`. This module re-exports them, so
``repo.add_peer(conn, ...)`` keeps working. Every function takes an open
connection, so the caller (the service layer) decides what one transaction
holds.
"""

from __future__ import annotations

from redline.store.alarms import open_alarms, raise_alarm
from redline.store.logs import (
    CachingHashReader,
    DbHashReader,
    PeerHashReader,
    PendingHashReader,
    add_peer_leaves,
    append_to_log,
    leaves_between,
    log_size,
    not_before_last_leaf,
    peer_leaves_between,
    peer_leaves_of,
    peer_log_size,
)
from redline.store.outbox import (
    due_outbox,
    enqueue,
    mark_delivered,
    note_delivery_failure,
    outbox_count,
)
from redline.store.peers import (
    Peer,
    add_peer,
    get_peer,
    list_peers,
    lock_peer,
    peer_exists,
    set_undelivered_checked,
    undelivered_checked,
)
from redline.store.record import mark_found_in_peer_log
from redline.store.statements import (
    existing_ids,
    in_statement_at,
    insert_statement,
    insert_statements,
    last_in_seq,
    latest_statements,
    list_statements,
    message_to_acknowledge,
    messages,
    next_seq,
    out_since,
    out_statements_by_id,
    received_message_ids,
    set_ack,
    set_receipt,
    statement_count,
    statement_summary,
    wires_by_id,
)

__all__ = [
    "CachingHashReader",
    "DbHashReader",
    "Peer",
    "PeerHashReader",
    "PendingHashReader",
    "add_peer",
    "add_peer_leaves",
    "append_to_log",
    "due_outbox",
    "enqueue",
    "existing_ids",
    "get_peer",
    "in_statement_at",
    "insert_statement",
    "insert_statements",
    "last_in_seq",
    "latest_statements",
    "leaves_between",
    "list_peers",
    "list_statements",
    "lock_peer",
    "log_size",
    "mark_delivered",
    "mark_found_in_peer_log",
    "message_to_acknowledge",
    "messages",
    "next_seq",
    "not_before_last_leaf",
    "note_delivery_failure",
    "open_alarms",
    "out_since",
    "out_statements_by_id",
    "outbox_count",
    "peer_exists",
    "peer_leaves_between",
    "peer_leaves_of",
    "peer_log_size",
    "raise_alarm",
    "received_message_ids",
    "set_ack",
    "set_receipt",
    "set_undelivered_checked",
    "statement_count",
    "statement_summary",
    "undelivered_checked",
    "wires_by_id",
]
