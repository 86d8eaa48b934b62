"""Messages between the parties: sending with a precedence, the addressee
operator's acknowledgement, and the view of what awaits one.

:class:`MessageActs` is part of :class:`~redline.service.node.NodeService`,
which provides ``send``, the store and the clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection

from redline.core.bodies import AckBody
from redline.core.errors import (
    Conflict,
    InvalidInput,
    InvalidStatement,
    NotFound,
)
from redline.core.fields import ActedBy, Body
from redline.core.hotline._checks import check_enum
from redline.core.hotline.lifecycle import Precedence, ack_state
from redline.core.messaging import deadline_for, is_late
from redline.core.statement import (
    Statement,
    format_time,
    parse_time,
)
from redline.service.handling import agreed_history, check_received, project
from redline.service.operators import Forbidden, Operator
from redline.service.paging import DEFAULT_LIMIT, check_limit, decode_cursor, encode_cursor
from redline.store import handling as handling_store
from redline.store import repo
from redline.store.db import Store

__all__ = ["MessageActs", "acted_by"]


def acted_by(operator: Operator) -> dict[str, Any]:
    """The ``by`` of a statement ``operator`` caused: the name and, when the
    operator holds exactly one office, that office. Raises nothing."""
    by = (
        ActedBy(operator=operator.name, office=operator.offices[0])
        if len(operator.offices) == 1
        else ActedBy(operator=operator.name)
    )
    return by.wire()


class MessageActs:
    """The message use cases of a node (see :class:`NodeService`)."""

    party: str
    store: Store
    clock: Callable[[], datetime]

    def send(
        self,
        *,
        to: str,
        kind: str,
        body: Mapping[str, Any] | Body,
        check: Callable[[Connection, datetime], None] | None = None,
        then: Callable[[Connection, Statement], None] | None = None,
    ) -> Statement:
        """Sign and queue a statement (:meth:`NodeService.send`).

        Raises NotImplementedError here; NodeService provides it.
        """
        raise NotImplementedError

    def send_message(
        self,
        *,
        to: str,
        precedence: str,
        subject: str,
        text: str,
        lang: str = "en",
        by: ActedBy | None = None,
    ) -> Statement:
        """Send a message with a precedence; ``by`` names the operator who sends it.

        Raises :class:`InvalidInput` naming the bad field, :class:`NotFound`
        for an unpinned addressee.
        """
        precedence = check_enum(precedence, Precedence, "precedence")
        body: dict[str, Any] = {
            "precedence": precedence,
            "subject": subject,
            "text": text,
            "lang": lang,
        }
        if by is not None:
            body["by"] = by.wire()
        return self.send(to=to, kind="message", body=body)

    def acknowledge(
        self,
        message_ref: str,
        *,
        reply: str | None = None,
        operator: Operator | None = None,
    ) -> Statement:
        """Sign this operator's acknowledgement of a message received from a peer.

        ``message_ref`` is the message's id or, as ``redline messages`` prints
        it, its first 8 or more hex characters (they must name one message
        received from a peer). The receipt a node returns says the message
        arrived; an ``ack`` says a person read it. ``redline verify`` counts a
        FLASH or IMMEDIATE message answered only by an ack (docs/record.md).
        ``reply`` is signed with it; ``operator`` (when an operator acts, not
        the node's own token) is named in it (``by``) and must be of the
        watch or admin role: a message is addressed to the party, and its
        watch floor answers it (docs/messages.md).

        Raises :class:`NotFound` if no such statement is stored,
        :class:`InvalidInput` for a malformed or ambiguous reference, a bad
        ``reply`` or a statement that is not a message received from a peer,
        :class:`Forbidden` (field ``role``) for an operator of another role,
        and :class:`Conflict` if it is acknowledged already.
        """
        if operator is not None and not operator.handles_traffic:
            raise Forbidden(
                f"{operator.name} is a {operator.role.value}; only the watch or an admin "
                "acknowledges messages",
                field="role",
            )
        with self.store.read() as conn:
            message_id = self._resolve_message(conn, message_ref)
            peer = self._message_to_acknowledge(conn, message_id)

        def unacknowledged(conn: Connection, _at: datetime) -> None:
            self._message_to_acknowledge(conn, message_id)  # again, in the transaction

        def link(conn: Connection, ack: Statement) -> None:
            repo.set_ack(conn, message_id, ack.id)

        body: dict[str, Any] = {"message": message_id}
        if reply is not None:
            body["reply"] = reply
        if operator is not None:
            body["by"] = acted_by(operator)
        try:
            model = AckBody.parse(body)
        except InvalidStatement as exc:
            raise InvalidInput(exc.message, field=(exc.field or "").removeprefix("body.")) from exc
        return self.send(to=peer, kind="ack", body=model, check=unacknowledged, then=link)

    def messages(self, *, pending: bool = False) -> list[dict[str, Any]]:
        """Every message, either way, with its acknowledgement as of now.

        ``ack_state`` is ``sent`` (awaiting the addressee's ack, in time),
        ``overdue`` (past ``ack_deadline``: the link's agreed terms, or by
        default 10 minutes for FLASH, 30 for IMMEDIATE, 3 hours for PRIORITY,
        6 for ROUTINE) or ``acknowledged``; ``late`` says the ack was signed
        after the deadline. ``seen_at``, ``reply``, ``acknowledged_by`` and
        the ``escalation`` steps taken come with it (docs/messages.md).
        ``pending`` keeps only those not acknowledged. The operator API pages
        (:meth:`messages_page`). Raises nothing.
        """
        now = self.clock()
        with self.store.read() as conn:
            rows = repo.messages(conn, pending=pending)
            return self._message_rows(conn, rows, now)

    def messages_page(
        self, *, pending: bool = False, limit: int = DEFAULT_LIMIT, cursor: str | None = None
    ) -> dict[str, Any]:
        """One page of :meth:`messages`, oldest first by signed time.

        Returns ``{"messages": [...], "next": cursor or None}``: pass ``next``
        back as ``cursor`` for the page after. Raises :class:`InvalidInput`
        (field ``limit`` or ``cursor``).
        """
        check_limit(limit)
        after = None
        if cursor is not None:
            time, message_id = decode_cursor(cursor, (str, str))
            after = (str(time), str(message_id))
        now = self.clock()
        with self.store.read() as conn:
            rows = repo.messages(conn, pending=pending, after=after, limit=limit)
            out = self._message_rows(conn, rows, now)
        more = len(out) == limit
        return {
            "messages": out,
            "next": encode_cursor([out[-1]["time"], out[-1]["id"]]) if more else None,
        }

    def _message_rows(
        self, conn: Connection, rows: Sequence[Any], now: datetime
    ) -> list[dict[str, Any]]:
        ids = [row.id for row in rows]
        seen = handling_store.seen_of(conn, ids)
        steps = handling_store.steps_taken(conn, ids)
        history = agreed_history(conn) if rows else {}
        # A statement's id is the SHA-256 of its canonical (wire) bytes.
        ack_wires = repo.wires_by_id(conn, [r.ack_id for r in rows if r.ack_id])
        acks = {hashlib.sha256(w).hexdigest(): orjson.loads(w) for w in ack_wires}
        # Who marked each seen: the ``by`` of its seen statement, when it names one.
        seen_wires = repo.wires_by_id(conn, [seen_id for seen_id, _ in seen.values()])
        seen_bys = {
            hashlib.sha256(w).hexdigest(): orjson.loads(w)["body"].get("by") for w in seen_wires
        }
        out: list[dict[str, Any]] = []
        for row in rows:
            # Stored statements were checked when they were stored: read the body
            # of the signed bytes, without parsing the whole statement again.
            body = orjson.loads(row.wire)["body"]
            precedence = Precedence(body["precedence"])
            sent_at = parse_time(row.time)
            # The deadline the link's agreed terms set when it was signed (or the default).
            deadline = deadline_for(history.get(row.peer, []), precedence, sent_at)
            acknowledged_at = None
            if row.ack_time is not None:
                # The two parties' clocks differ: an ack may carry a time before
                # the message's (or after this node's now). It still answers it.
                acknowledged_at = max(parse_time(row.ack_time), sent_at)
            state = ack_state(
                precedence=precedence,
                sent_at=sent_at,
                acknowledged_at=acknowledged_at,
                escalated_at=None,
                now=max(now, sent_at, acknowledged_at or sent_at),
                deadline=deadline,
            )
            ack_body = acks[row.ack_id]["body"] if row.ack_id in acks else {}
            seen_id, seen_at = seen.get(row.id, (None, None))
            out.append(
                {
                    "id": row.id,
                    "direction": row.direction,
                    "peer": row.peer,
                    "precedence": precedence.value,
                    "subject": body["subject"],
                    "lang": body["lang"],
                    "time": row.time,
                    "state": row.state,
                    "delivered_at": row.delivered_at,
                    "seen_id": seen_id,
                    "seen_at": seen_at,
                    "seen_by": seen_bys.get(seen_id) if seen_id else None,
                    "ack_deadline": format_time(deadline),
                    "ack_id": row.ack_id,
                    "acknowledged_at": row.ack_time,
                    "ack_state": state.value,
                    "late": is_late(deadline, acknowledged_at),
                    "reply": ack_body.get("reply"),
                    "acknowledged_by": ack_body.get("by"),
                    "escalation": [
                        {
                            "step": t["step"],
                            "action": t["action"],
                            "at": t["at"],
                            "detail": t["detail"],
                        }
                        for t in steps.get(row.id, [])
                    ],
                }
            )
        return out

    def _mark_late_acks(self, conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``rows`` (statement summaries), each ``ack`` among them given
        ``late``: whether it was signed after its message's deadline. Raises nothing."""
        acks = [r for r in rows if r["kind"] == "ack"]
        if not acks:
            return rows
        wires = repo.wires_by_id(conn, [r["id"] for r in acks])
        message_of = {
            hashlib.sha256(w).hexdigest(): orjson.loads(w)["body"]["message"] for w in wires
        }
        found = repo.messages(conn, ids=list(message_of.values()))
        late = {m["ack_id"]: m["late"] for m in self._message_rows(conn, found, self.clock())}
        for row in acks:
            row["late"] = bool(late.get(row["id"], False))
        return rows

    def message(self, ref: str) -> dict[str, Any]:
        """One message, either way, whole: its row of :meth:`messages` and its ``text``.

        ``ref`` is the message's id or, for a message received from a peer, its
        first 8 or more hex characters, resolved as :meth:`acknowledge` resolves
        them. The text is the sender's, as signed: print it escaped.

        Raises :class:`InvalidInput` (field ``id``) for a malformed reference or
        a prefix that starts more than one message, and :class:`NotFound`
        (field ``id``) if no message has that id or prefix.
        """
        now = self.clock()
        with self.store.read() as conn:
            message_id = self._resolve_message(conn, ref)
            wires = repo.wires_by_id(conn, [message_id])
            found = repo.messages(conn, ids=[message_id])
            # The list's own row, so the two never disagree on the acknowledgement.
            row = next(iter(self._message_rows(conn, found, now)), None)
        if row is None or not wires:
            raise NotFound(f"no message {message_id!r}", field="id")
        return {**row, "text": orjson.loads(wires[0])["body"]["text"]}

    @staticmethod
    def _resolve_message(conn: Connection, ref: str) -> str:
        ref = ref.lower()
        if not 8 <= len(ref) <= 64 or any(c not in "0123456789abcdef" for c in ref):
            raise InvalidInput(
                "give the message's id, or at least its first 8 hex characters", field="id"
            )
        if len(ref) == 64:
            return ref
        found = repo.received_message_ids(conn, prefix=ref, limit=2)
        if not found:
            raise NotFound(f"no message received from a peer starts with {ref!r}", field="id")
        if len(found) > 1:
            raise InvalidInput(f"{ref!r} starts more than one message; give more of it", field="id")
        return found[0]

    def _message_to_acknowledge(self, conn: Connection, message_id: str) -> str:
        """The peer that sent message ``message_id``, which awaits this node's ack."""
        row = repo.message_to_acknowledge(conn, message_id)
        if row is None:
            raise NotFound(f"no statement {message_id!r}", field="id")
        if row.kind != "message" or row.direction != "in":
            raise InvalidInput(
                f"statement {message_id[:16]} is a {row.kind} this node "
                f"{'received' if row.direction == 'in' else 'sent'}; only a message received "
                "from a peer is acknowledged",
                field="id",
            )
        if row.ack_id is not None:
            raise Conflict(
                f"message {message_id[:16]} is acknowledged already (by {row.ack_id[:16]})",
                field="id",
            )
        return str(row.peer)

    def _take_handling(self, conn: Connection, fresh: Sequence[Statement]) -> None:
        """Refuse a peer's terms acceptance, seen or fallback proposal that
        names what it cannot (a receive check; :func:`service.handling.check_received`)."""
        check_received(conn, fresh, party=self.party)

    def _project_handling(self, conn: Connection, stored: Sequence[Statement]) -> None:
        """Keep the link terms and seen receipts (an ``on_stored`` hook)."""
        project(conn, stored, party=self.party)

    @staticmethod
    def _take_acks(conn: Connection, fresh: Sequence[Statement]) -> None:
        """Link each ``ack`` in ``fresh`` to the message of ours it acknowledges
        (a receive check: it runs in the receiving transaction).

        Refuses (nothing is stored) an ack of anything but a message this node
        sent to the ack's signer that has no ack yet (a second ack in the same
        batch sees the first one's link): a node only stores what it can say
        the meaning of.
        """
        for ack in fresh:
            if ack.kind != "ack":
                continue
            message_id = str(ack.body["message"])
            row = repo.message_to_acknowledge(conn, message_id)
            if (
                row is None
                or row.kind != "message"
                or row.direction != "out"
                or row.recipient != ack.sender
            ):
                raise InvalidStatement(
                    f"ack {ack.id[:16]} names {message_id[:16]}, which is no message this node "
                    f"sent to {ack.sender!r}",
                    field="body.message",
                )
            if row.ack_id is not None:
                raise InvalidStatement(
                    f"ack {ack.id[:16]}: message {message_id[:16]} is acknowledged already",
                    field="body.message",
                )
            repo.set_ack(conn, message_id, ack.id)
