"""Use cases of one node: send, receive, take receipts, catch up, report.

Each public method is one transaction. The service knows no transport: the
link's endpoints and worker call into it (DESIGN.md, "Architecture").
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Connection

from redline.core.errors import (
    InvalidInput,
    InvalidStatement,
    NotFound,
    RemoteError,
    SequenceGap,
    UnpinnedPeer,
)
from redline.core.fields import Body
from redline.core.statement import (
    MAIN_STREAM,
    RECEIPT_STREAM,
    Statement,
    format_time,
    parse_time,
    verify_statement,
)
from redline.service.messages import MessageActs
from redline.service.paging import Listings, check_limit
from redline.store import alarms as alarm_store
from redline.store import outbox as outbox_store
from redline.store import repo
from redline.store.db import Store

__all__ = [
    "UNREACHABLE",
    "Clock",
    "NodeService",
    "ReceiveCheck",
    "ReceiveResult",
    "STATUS_LATEST",
    "SendCheck",
    "system_clock",
]

Clock = Callable[[], datetime]
# A statement dated further ahead of the receiver's clock than this is refused.
MAX_CLOCK_SKEW = timedelta(minutes=5)
#: Run inside a send's write transaction, with the statement's time, before it is signed.
SendCheck = Callable[[Connection, datetime], None]
#: Run inside a receive's write transaction on the fresh statements, before they are stored.
ReceiveCheck = Callable[[Connection, Sequence[Statement]], None]
#: The alarm kind for a peer that deliveries have failed to reach for too long.
UNREACHABLE = "unreachable"
#: How many of the latest statements and alarms :meth:`NodeService.status` shows.
STATUS_LATEST = 20


def system_clock() -> datetime:
    """The wall clock, in UTC. The edges pass it in; core never reads it."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ReceiveResult:
    """What a receiver answers a push with."""

    receipts: list[bytes]
    accepted: int
    duplicates: int


class NodeService(MessageActs, Listings):
    """The use cases of one node, over its store and keys.

    ``on_outbox`` is called after a transaction has queued statements for a
    peer, so an in-process delivery worker can wake at once. A peer that
    every attempt has failed to reach for longer than ``unreachable_after``
    raises an ``unreachable`` alarm (:meth:`delivery_failed`).
    """

    def __init__(
        self,
        *,
        party: str,
        signing_key: Ed25519PrivateKey,
        store: Store,
        clock: Clock = system_clock,
        on_outbox: Callable[[str], None] | None = None,
        unreachable_after: timedelta = timedelta(seconds=60),
    ) -> None:
        self.party = party
        self.unreachable_after = unreachable_after
        self._key = signing_key
        self.store = store
        self.clock = clock
        self.on_outbox = on_outbox
        self._peer_keys: dict[str, Ed25519PublicKey] = {}
        #: Rules that refuse a peer's statement on receipt, in the receiving
        #: transaction: acknowledgements' own, then domains' (e.g. the hotline's).
        self.receive_checks: list[ReceiveCheck] = [self._take_acks, self._take_handling]
        #: Called with every statement stored on the main stream (signed here or
        #: received), in the transaction that stores it: the hotline's projection.
        self.on_stored: list[ReceiveCheck] = [self._project_handling]
        #: Called with the peer's receipts :meth:`take_receipts` stored (not
        #: those it held already), in the transaction that stores them: the
        #: console hears that a message was delivered (``service/live.py``).
        self.on_receipts: list[ReceiveCheck] = []
        #: Locks each sending or receiving transaction takes first, before any
        #: row lock, so that every writer takes them in one order (the
        #: hotline's projection lock taken after the log's deadlocked against
        #: a writer that took them the other way, on PostgreSQL).
        self.write_locks: list[Callable[[Connection], None]] = []
        #: Peers that answered over quota (429): until when, and their words.
        #: In memory only: a throttle is short, and the peer repeats it.
        self._throttled: dict[str, tuple[datetime, str]] = {}

    # -- peers -------------------------------------------------------------

    def peers(self) -> list[repo.Peer]:
        """Every pinned peer."""
        with self.store.read() as conn:
            return repo.list_peers(conn)

    def peer(self, party: str) -> repo.Peer:
        """One pinned peer. Raises :class:`NotFound` if it is not pinned."""
        with self.store.read() as conn:
            return repo.get_peer(conn, party)

    def peer_key(self, party: str) -> Ed25519PublicKey:
        """The pinned signing key of ``party``.

        Raises :class:`UnpinnedPeer` if ``party`` is not pinned.
        """
        key = self._peer_keys.get(party)
        if key is None:
            with self.store.read() as conn:
                pinned = {p.party: p for p in repo.list_peers(conn)}
            if party not in pinned:
                raise UnpinnedPeer(f"party {party!r} is not pinned", field="from")
            key = pinned[party].identity.public_key()
            self._peer_keys[party] = key
        return key

    # -- sending -------------------------------------------------------------

    def send(
        self,
        *,
        to: str,
        kind: str,
        body: Mapping[str, Any] | Body,
        check: SendCheck | None = None,
        then: Callable[[Connection, Statement], None] | None = None,
    ) -> Statement:
        """Sign a statement to ``to`` and queue it, in one transaction.

        ``body`` is the kind's model, or a wire object validated against it.

        ``check(conn, time)`` runs in that transaction before signing, with the
        time the statement will carry; whatever it raises aborts the send.
        ``then(conn, statement)`` runs in it after the statement is stored.

        Raises :class:`NotFound` if ``to`` is not a pinned peer and
        :class:`InvalidInput` naming the field if the body is invalid.
        """
        now = self.clock()
        stamp = format_time(now)
        with self.store.write() as conn:
            for lock in self.write_locks:
                lock(conn)
            if not repo.peer_exists(conn, to):
                raise NotFound(f"no pinned peer {to!r}; pin it with `redline peer add`", field="to")
            seq = repo.next_seq(conn, to, MAIN_STREAM)
            now = repo.not_before_last_leaf(conn, now)
            if check is not None:
                # After next_seq: its row lock serialises concurrent sends to ``to``.
                check(conn, now)
            try:
                # The one check of the body: a model (an act built it) is valid
                # as it is; a wire object is validated against its kind's model.
                statement = Statement.create(
                    key=self._key, sender=self.party, to=to, kind=kind, seq=seq, time=now, body=body
                )
            except InvalidStatement as exc:
                raise InvalidInput(exc.message, field=exc.field) from exc
            (index,) = repo.append_to_log(conn, [statement])
            repo.insert_statement(
                conn, statement, direction="out", state="queued", now=stamp, leaf_index=index
            )
            repo.enqueue(conn, statement, stamp)
            for hook in self.on_stored:
                hook(conn, [statement])
            if then is not None:
                then(conn, statement)
        if self.on_outbox is not None:
            self.on_outbox(to)
        return statement

    def link_test(self, *, to: str) -> Statement:
        """Send a heartbeat (link test) to ``to``."""
        return self.send(to=to, kind="heartbeat", body={"nonce": secrets.token_hex(8)})

    def due(self, peer: str, limit: int) -> list[bytes]:
        """Queued statements for ``peer``, oldest first, as wire bytes."""
        with self.store.read() as conn:
            return repo.due_outbox(conn, peer, limit)

    def retry_at(self, peer: str) -> tuple[int, datetime | None]:
        """When to try ``peer`` again, as recorded by the last failed attempt
        (perhaps by a previous run): the attempts the head of its queue has had
        (0 if nothing is queued) and the next attempt time (None: at once).
        Raises nothing."""
        with self.store.read() as conn:
            attempts, at = outbox_store.retry_at(conn, peer)
        return attempts, (parse_time(at) if at is not None else None)

    def delivery_failed(self, peer: str, error: str, retry_at: datetime) -> None:
        """Note a failed attempt on ``peer`` (a push or a pull), to be tried again at ``retry_at``.

        Every statement queued for it counts one more attempt, with ``error``
        (control characters replaced, cut to ``outbox.MAX_ERROR``) and
        ``retry_at``; the link records since when it has been failing. Once it
        has failed for longer than ``unreachable_after``, an ``unreachable``
        alarm is raised, once: it stays open until an exchange succeeds
        (:meth:`exchange_succeeded`, :meth:`take_receipts`). Raises nothing of
        its own.
        """
        now = self.clock()
        stamp = format_time(now)
        with self.store.write() as conn:
            since = outbox_store.note_delivery_failure(
                conn, peer, error, next_at=format_time(retry_at), now=stamp
            )
            if now - parse_time(since) < self.unreachable_after:
                return
            if alarm_store.alarm_is_open(conn, kind=UNREACHABLE, peer=peer):
                return
            alarm_store.raise_alarm(
                conn,
                kind=UNREACHABLE,
                peer=peer,
                condition="link",
                message=f"{peer} unreachable since {since} "
                f"(last error: {outbox_store.safe_error(error)})",
                now=stamp,
            )

    def throttled(self, peer: str, until: datetime, detail: str) -> None:
        """Note that ``peer`` refused an exchange as over its quota (429) and
        is not to be tried before ``until``.

        Not a failure: no attempt is counted and no ``unreachable`` alarm is
        raised. :meth:`link_health` shows the link ``throttled`` until then,
        or until an exchange succeeds. Kept in memory. Raises nothing.
        """
        self._throttled[peer] = (until, outbox_store.safe_error(detail))

    def exchange_succeeded(self, peer: str, *, pushed: bool = False) -> None:
        """Note that an exchange with ``peer`` succeeded: a pull, or (``pushed``)
        a push it answered with receipts.

        The link's last exchange is now. A push ends a failure (and clears the
        ``unreachable`` alarm); so does a pull when nothing waits for ``peer``,
        but not while statements do: then the pushes decide. Raises nothing of
        its own.
        """
        stamp = format_time(self.clock())
        with self.store.write() as conn:
            self._exchanged(conn, peer, stamp, pushed=pushed)
        self._throttled.pop(peer, None)

    @staticmethod
    def _exchanged(conn: Connection, peer: str, stamp: str, *, pushed: bool) -> None:
        clear = pushed or repo.outbox_count(conn, peer) == 0
        if outbox_store.note_exchange(conn, peer, stamp, clear_failure=clear):
            alarm_store.clear_alarms(conn, kind=UNREACHABLE, peer=peer, now=stamp)

    # -- receiving -----------------------------------------------------------

    def _check_from_peer(self, peer: str, batch: Sequence[Statement]) -> None:
        key = self.peer_key(peer)
        for statement in batch:
            if statement.sender != peer:
                raise UnpinnedPeer(
                    f"statement {statement.id[:16]} claims sender {statement.sender!r} but "
                    f"arrived from {peer!r}",
                    field="from",
                )
            if statement.to != self.party:
                raise InvalidStatement(
                    f"statement {statement.id[:16]} is addressed to {statement.to!r}, "
                    f"not to this node ({self.party!r})",
                    field="to",
                )
            verify_statement(statement, keys={peer: key})
            if statement.sent_at > self.clock() + MAX_CLOCK_SKEW:
                raise InvalidStatement(
                    f"statement {statement.id[:16]} is dated {statement.time}, ahead of this "
                    f"node's clock by more than {MAX_CLOCK_SKEW}",
                    field="time",
                )

    def receive(self, peer: str, batch: Sequence[Statement]) -> ReceiveResult:
        """Accept statements pushed (or pulled) from ``peer``, then sign a receipt.

        Everything is checked before anything is stored: on any error nothing
        is stored. Duplicates are answered with the receipt already given.

        Raises :class:`UnpinnedPeer`, :class:`BadSignature`,
        :class:`InvalidStatement` (a receipt pushed, a wrong addressee, a
        sequence number reused with different content) and
        :class:`SequenceGap` when the batch skips ahead of the next expected
        sequence number.
        """
        self._check_from_peer(peer, batch)
        for statement in batch:
            if statement.stream != MAIN_STREAM:
                raise InvalidStatement(
                    "receipts are returned in responses, not pushed", field="kind"
                )
        ordered = sorted(batch, key=lambda s: s.seq)
        now = self.clock()
        stamp = format_time(now)
        with self.store.write() as conn:
            for lock in self.write_locks:
                lock(conn)
            # A push and a catch-up pull of the same statements may race: one at a time.
            repo.lock_peer(conn, peer)
            known = repo.existing_ids(conn, (s.id for s in ordered))
            through = repo.last_in_seq(conn, peer)
            # A node signs in time order (its log's times never go back), so a
            # statement dated before the one before it was backdated.
            last = repo.in_statement_at(conn, peer, through) if through else None
            previous = None if last is None else str(last.time)
            fresh: list[Statement] = []
            seen: set[str] = set()
            for statement in ordered:
                if statement.id in known or statement.id in seen:
                    continue
                if statement.seq <= through:
                    held = repo.in_statement_at(conn, peer, statement.seq)
                    holder = None if held is None else held.id
                    raise InvalidStatement(
                        f"sequence number {statement.seq} from {peer!r} was already used by "
                        f"statement {str(holder)[:16]}; refusing a second statement at it",
                        field="seq",
                    )
                if statement.seq != through + 1:
                    raise SequenceGap(
                        f"expected sequence number {through + 1} from {peer!r}, got "
                        f"{statement.seq}; the receiver will ask for everything since {through}",
                        expected=through + 1,
                        got=statement.seq,
                    )
                if previous is not None and statement.time < previous:
                    raise InvalidStatement(
                        f"statement {statement.id[:16]} is dated {statement.time}, before "
                        f"{peer!r}'s previous statement ({previous}); a node's times do not "
                        "go back",
                        field="time",
                    )
                previous = statement.time
                through = statement.seq
                fresh.append(statement)
                seen.add(statement.id)
            receipt_ids = {rid for rid in known.values() if rid is not None}
            if fresh:
                for domain_check in self.receive_checks:
                    domain_check(conn, fresh)
                repo.insert_statements(conn, fresh, direction="in", state="received", now=stamp)
                for hook in self.on_stored:
                    hook(conn, fresh)
                now = repo.not_before_last_leaf(conn, now)
                receipt = Statement.create(
                    key=self._key,
                    sender=self.party,
                    to=peer,
                    kind="receipt",
                    seq=repo.next_seq(conn, peer, RECEIPT_STREAM),
                    time=now,
                    body={"ack": [{"id": s.id, "seq": s.seq} for s in fresh]},
                )
                (index,) = repo.append_to_log(conn, [receipt])
                repo.insert_statement(
                    conn, receipt, direction="out", state="issued", now=stamp, leaf_index=index
                )
                repo.set_receipt(conn, [s.id for s in fresh], receipt.id)
                receipt_ids.add(receipt.id)
            wires = repo.wires_by_id(conn, receipt_ids)
        return ReceiveResult(
            receipts=wires, accepted=len(fresh), duplicates=len(ordered) - len(fresh)
        )

    def take_receipts(self, peer: str, receipts: Sequence[Statement]) -> int:
        """Verify and store ``peer``'s receipts; mark what they acknowledge delivered.

        Returns how many of this node's statements became delivered.
        Raises :class:`UnpinnedPeer`, :class:`BadSignature`, and
        :class:`RemoteError` if a receipt acknowledges a statement this node
        never sent to ``peer`` or gets its sequence number wrong.
        """
        self._check_from_peer(peer, receipts)
        stamp = format_time(self.clock())
        delivered = 0
        stored: list[Statement] = []
        with self.store.write() as conn:
            known = repo.existing_ids(conn, (r.id for r in receipts))
            for receipt in receipts:
                if receipt.kind != "receipt":
                    raise InvalidStatement("expected a receipt", field="kind")
                acks = {a["id"]: a["seq"] for a in receipt.body["ack"]}
                ours = repo.out_statements_by_id(conn, peer, acks)
                for ack_id, ack_seq in acks.items():
                    if ours.get(ack_id) != ack_seq:
                        raise RemoteError(
                            f"receipt {receipt.id[:16]} acknowledges statement {ack_id[:16]} "
                            f"(seq {ack_seq}), which this node did not send to {peer!r}",
                            field="body.ack",
                        )
                if receipt.id not in known:
                    repo.insert_statement(
                        conn, receipt, direction="in", state="received", now=stamp
                    )
                    known[receipt.id] = None
                    stored.append(receipt)
                repo.mark_delivered(conn, list(acks), receipt.id, stamp)
                delivered += len(acks)
            if stored:
                for hook in self.on_receipts:
                    hook(conn, stored)
            if delivered:
                # A push answered with receipts: the link works (and a failure is over).
                self._exchanged(conn, peer, stamp, pushed=True)
        if delivered:
            self._throttled.pop(peer, None)
        return delivered

    # -- catching up ---------------------------------------------------------

    def received_through(self, peer: str) -> int:
        """The highest main-stream sequence number stored from ``peer``."""
        with self.store.read() as conn:
            return repo.last_in_seq(conn, peer)

    def since(self, peer: str, after: int, limit: int) -> list[bytes]:
        """This node's main-stream statements to ``peer`` after ``after``."""
        with self.store.read() as conn:
            return repo.out_since(conn, peer, after, limit)

    # -- reporting -------------------------------------------------------------

    def status(self, *, latest: int = STATUS_LATEST) -> dict[str, Any]:
        """The node at a glance: ``counts`` (statements held, queued, open
        alarms), ``outbox`` (queued), ``log_size``, each peer's link
        (:meth:`link_health`), and the ``latest`` statements stored and open
        alarms raised, newest first. The whole listings are paged
        (:meth:`statements_page`, :meth:`outbox_page`, :meth:`alarms_page`):
        this answer stays small however much the node holds.

        Raises :class:`InvalidInput` (field ``limit``) if ``latest`` is not 1..1000.
        """
        check_limit(latest)
        with self.store.read() as conn:
            queued = repo.outbox_count(conn)
            return {
                "party": self.party,
                "counts": {
                    "statements": repo.statement_count(conn),
                    "outbox": queued,
                    "alarms": alarm_store.open_alarm_count(conn),
                },
                "statements": self._mark_late_acks(conn, repo.latest_statements(conn, latest)),
                "outbox": queued,
                "log_size": repo.log_size(conn),
                "links": self._with_throttles(self._links(conn, None)),
                "alarms": repo.open_alarms(conn, limit=latest),
            }

    def link_health(self, peer: str | None = None) -> list[dict[str, Any]]:
        """Each pinned peer's link (or only ``peer``'s), by party.

        Each is a dict: ``peer``; ``state`` (``up``: the last exchange
        succeeded; ``failing``: every attempt since ``failing_since`` has
        failed; ``unreachable``: failing for longer than the alarm threshold,
        with the ``unreachable`` alarm open; ``unknown``: never reached yet);
        ``last_exchange_at`` (the last push answered with receipts, or pull);
        ``failing_since``; ``last_error`` and ``next_attempt_at`` while it is
        failing; ``throttled``: it refused the last exchange as over this
        node's quota there, ``next_attempt_at`` is its ``Retry-After`` and
        ``last_error`` its words); ``queued`` (statements waiting for its receipt);
        ``oldest_queued_at`` (the signed time of the oldest of them) and
        ``attempts`` (how many times delivering that one has failed).

        Raises :class:`NotFound` if ``peer`` is given and not pinned.
        """
        with self.store.read() as conn:
            links = self._with_throttles(self._links(conn, peer))
        if peer is not None and not links:
            raise NotFound(f"no pinned peer {peer!r}", field="peer")
        return links

    def _with_throttles(self, links: list[dict[str, Any]]) -> list[dict[str, Any]]:
        now = self.clock()
        for link in links:
            throttle = self._throttled.get(link["peer"])
            if throttle is None or throttle[0] <= now:
                continue
            until, detail = throttle
            link.update(state="throttled", next_attempt_at=format_time(until), last_error=detail)
        return links

    @staticmethod
    def _links(conn: Connection, peer: str | None) -> list[dict[str, Any]]:
        unreachable = {a["peer"] for a in repo.open_alarms(conn, kind=UNREACHABLE)}
        out: list[dict[str, Any]] = []
        for row in outbox_store.link_rows(conn, peer):
            if row.peer in unreachable:
                state = "unreachable"
            elif row.failing_since is not None:
                state = "failing"
            elif row.last_exchange_at is not None:
                state = "up"
            else:
                state = "unknown"
            out.append(
                {
                    "peer": row.peer,
                    "state": state,
                    "last_exchange_at": row.last_exchange_at,
                    "failing_since": row.failing_since,
                    "last_error": row.last_error,
                    "next_attempt_at": row.next_attempt_at,
                    "queued": row.queued,
                    "oldest_queued_at": row.oldest_queued_at,
                    "attempts": row.attempts,
                }
            )
        return out

    def statement_state(self, statement_id: str) -> dict[str, Any]:
        """One statement's summary. Raises :class:`NotFound` if it is not stored."""
        with self.store.read() as conn:
            row = repo.statement_summary(conn, statement_id)
        if row is None:
            raise NotFound(f"no statement {statement_id!r}", field="id")
        return row
