"""Message handling: link terms, ``seen`` receipts, escalation of unanswered messages.

:class:`HandlingService` holds the acts (propose and accept terms, mark a
message seen, set a link's escalation policy, manage notification
recipients) and :meth:`HandlingService.escalate_due`, which the node's
:meth:`HandlingService.tick` runs every second. The projection of terms and seen
receipts (:func:`check_received`, :func:`project`) is kept by every
:class:`~redline.service.node.NodeService` (its ``receive_checks`` and
``on_stored``), so that a node built without this service still keeps it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection

from redline.core.errors import Conflict, InvalidInput, InvalidStatement, NotFound
from redline.core.fields import ActedBy
from redline.core.hotline._checks import check_enum
from redline.core.kinds import Precedence
from redline.core.messaging import (
    DEFAULT_POLICIES,
    FALLBACK_PROPOSAL,
    LINK_TERMS,
    LINK_TERMS_ACCEPT,
    MAX_DEADLINE_SECONDS,
    SEEN,
    AgreedTerms,
    EscalationPolicy,
    FallbackProposalBody,
    LinkTermsAcceptBody,
    LinkTermsBody,
    SeenBody,
    StepAction,
    deadline_for,
    due_steps,
    parse_policy,
    terms_history,
)
from redline.core.statement import Statement, format_time, parse_time
from redline.service.notify import Notifier, check_address
from redline.store import handling as store
from redline.store import repo

if TYPE_CHECKING:
    from redline.service.node import NodeService

__all__ = [
    "HandlingService",
    "agreed_history",
    "check_received",
    "project",
]

log = logging.getLogger("redline")


def agreed_history(conn: Connection, peer: str | None = None) -> dict[str, list[AgreedTerms]]:
    """Each peer's accepted terms as :class:`AgreedTerms` (only ``peer``'s when given)."""
    return {
        p: terms_history([(tid, parse_time(at), d) for tid, at, d in rows])
        for p, rows in store.agreed_terms(conn, peer).items()
    }


def check_received(conn: Connection, fresh: Sequence[Statement], *, party: str) -> None:
    """Refuse (nothing is stored) a peer's statement of this module's kinds
    that names something it cannot: an acceptance of terms this node did not
    propose to it (or already accepted), a ``seen`` of a message this node did
    not send to it (or seen already), a fallback proposal for a message it
    did not send to this node. A receive check: runs in the receiving
    transaction. Raises :class:`InvalidStatement` naming the field."""
    accepted: set[str] = set()
    seen: set[str] = set()
    for s in fresh:
        if s.kind == LINK_TERMS_ACCEPT:
            tid = str(s.body["terms"])
            row = store.terms_row(conn, tid)
            if row is None or row.proposer != party or row.peer != s.sender:
                raise InvalidStatement(
                    f"{s.kind} {s.id[:16]} names {tid[:16]}, which is no link-terms this "
                    f"node proposed to {s.sender!r}",
                    field="body.terms",
                )
            if row.accept_id is not None or tid in accepted:
                raise InvalidStatement(
                    f"link-terms {tid[:16]} are accepted already", field="body.terms"
                )
            accepted.add(tid)
        elif s.kind in (SEEN, FALLBACK_PROPOSAL):
            mid = str(s.body["message"])
            row = repo.message_to_acknowledge(conn, mid)
            direction = "out" if s.kind == SEEN else "in"
            ok = row is not None and row.kind == "message" and row.direction == direction
            if ok and direction == "out":
                ok = row.recipient == s.sender
            elif ok:
                ok = row.peer == s.sender
            if not ok:
                whose = "sent to" if s.kind == SEEN else "received from"
                raise InvalidStatement(
                    f"{s.kind} {s.id[:16]} names {mid[:16]}, which is no message this node "
                    f"{whose} {s.sender!r}",
                    field="body.message",
                )
            if s.kind == SEEN:
                if mid in seen or store.seen_of(conn, [mid]):
                    raise InvalidStatement(
                        f"message {mid[:16]} is marked seen already", field="body.message"
                    )
                seen.add(mid)


def project(conn: Connection, stored: Sequence[Statement], *, party: str) -> None:
    """Keep the terms and seen tables for statements stored (either way), in
    the storing transaction. Raises SQLAlchemy's errors only."""
    for s in stored:
        peer = s.to if s.sender == party else s.sender
        if s.kind == LINK_TERMS:
            store.insert_terms(
                conn,
                terms_id=s.id,
                peer=peer,
                proposer=s.sender,
                deadlines=dict(s.body["deadlines"]),
                time=s.time,
            )
        elif s.kind == LINK_TERMS_ACCEPT:
            store.accept_terms(conn, str(s.body["terms"]), accept_id=s.id, accepted_at=s.time)
        elif s.kind == SEEN:
            store.record_seen(conn, str(s.body["message"]), seen_id=s.id, time=s.time)


class _AlreadySeen(Exception):
    def __init__(self, seen_id: str) -> None:
        self.seen_id = seen_id


def _steps_json(policy: EscalationPolicy) -> list[dict[str, Any]]:
    return policy.to_json()


class HandlingService:
    """Terms, seen receipts, escalation and notification recipients of one node."""

    def __init__(self, node: NodeService, *, notifier: Notifier | None = None) -> None:
        self.node = node
        self.notifier = notifier
        self._lock = threading.Lock()

    # -- terms --------------------------------------------------------------------

    def propose_terms(
        self, *, to: str, deadlines: Mapping[str, Any], note: str = "", by: ActedBy | None = None
    ) -> Statement:
        """Sign a ``link-terms`` proposal to ``to``: seconds per precedence.

        Raises :class:`InvalidInput` naming the field (``deadlines.flash``),
        :class:`NotFound` for an unpinned ``to``.
        """
        body: dict[str, Any] = {"deadlines": dict(deadlines)}
        if note:
            body["note"] = note
        if by is not None:
            body["by"] = by.wire()
        try:
            model = LinkTermsBody.parse(body)
        except InvalidStatement as exc:
            raise InvalidInput(
                exc.message, field=(exc.field or "body").removeprefix("body.")
            ) from exc
        return self.node.send(to=to, kind=LINK_TERMS, body=model)

    def accept_terms(self, terms_id: str, *, by: ActedBy | None = None) -> Statement:
        """Sign ``link-terms-accept`` for a proposal received from a peer.

        Raises :class:`NotFound` (field ``id``) for no such proposal received,
        :class:`Conflict` if it is accepted already, :class:`InvalidInput` for
        a malformed id or a proposal this node made itself.
        """
        if len(terms_id) != 64 or any(c not in "0123456789abcdef" for c in terms_id):
            raise InvalidInput("must be a link-terms statement id (64 hex)", field="id")

        def unaccepted(conn: Connection, _at: datetime) -> None:
            row = store.terms_row(conn, terms_id)
            if row is None:
                raise NotFound(f"no link-terms {terms_id[:16]}", field="id")
            if row.proposer == self.node.party:
                raise InvalidInput(
                    "these are this node's own terms; the peer accepts them", field="id"
                )
            if row.accept_id is not None:
                raise Conflict(f"link-terms {terms_id[:16]} are accepted already", field="id")

        with self.node.store.read() as conn:
            row = store.terms_row(conn, terms_id)
        if row is None:
            raise NotFound(f"no link-terms {terms_id[:16]}", field="id")
        body = (
            LinkTermsAcceptBody(terms=terms_id, by=by)
            if by
            else LinkTermsAcceptBody(terms=terms_id)
        )
        return self.node.send(to=str(row.peer), kind=LINK_TERMS_ACCEPT, body=body, check=unaccepted)

    def terms(self, peer: str | None = None) -> dict[str, Any]:
        """Each pinned peer's deadlines in force now (``agreed``: the terms'
        id and acceptance, or None: the defaults) and every proposal.
        Raises :class:`NotFound` for an unpinned ``peer``."""
        now = self.node.clock()
        with self.node.store.read() as conn:
            peers = [p.party for p in repo.list_peers(conn)]
            if peer is not None and peer not in peers:
                raise NotFound(f"no pinned peer {peer!r}", field="peer")
            history = agreed_history(conn, peer)
            proposals = store.terms_rows(conn, peer)
        links = []
        for p in [peer] if peer is not None else peers:
            agreed = [t for t in history.get(p, []) if t.accepted_at < now]
            latest = max(agreed, key=lambda t: t.accepted_at, default=None)
            links.append(
                {
                    "peer": p,
                    "deadlines": {
                        prec.value: int((deadline_for(agreed, prec, now) - now).total_seconds())
                        for prec in Precedence
                    },
                    "agreed": None
                    if latest is None
                    else {"terms": latest.terms, "accepted_at": format_time(latest.accepted_at)},
                }
            )
        return {"links": links, "proposals": proposals}

    # -- seen ---------------------------------------------------------------------

    def seen(self, message_ref: str, *, by: ActedBy | None = None) -> dict[str, Any]:
        """Mark a received message seen: sign ``seen`` to its sender, once.

        Returns ``{"message", "seen": <seen statement id>, "new": bool}``;
        ``new`` is False when it was seen already (nothing is signed).
        Raises as :meth:`MessageActs.message` resolves ``message_ref``, and
        :class:`InvalidInput` (field ``id``) for a message this node sent.
        """
        with self.node.store.read() as conn:
            mid = self.node._resolve_message(conn, message_ref)
            row = repo.message_to_acknowledge(conn, mid)
        if row is None or row.kind != "message":
            raise NotFound(f"no message {mid!r}", field="id")
        if row.direction != "in":
            raise InvalidInput(
                "this node sent that message; only its addressee marks it seen", field="id"
            )

        def unseen(conn: Connection, _at: datetime) -> None:
            done = store.seen_of(conn, [mid])
            if done:
                raise _AlreadySeen(done[mid][0])

        body = SeenBody(message=mid, by=by) if by else SeenBody(message=mid)
        try:
            statement = self.node.send(to=str(row.peer), kind=SEEN, body=body, check=unseen)
        except _AlreadySeen as already:
            return {"message": mid, "seen": already.seen_id, "new": False}
        return {"message": mid, "seen": statement.id, "new": True}

    # -- escalation ---------------------------------------------------------------

    def policy(self, peer: str) -> dict[str, Any]:
        """The link's escalation policy per precedence: ``{precedence: {steps,
        default}}``. Raises :class:`NotFound` for an unpinned ``peer``."""
        with self.node.store.read() as conn:
            if not repo.peer_exists(conn, peer):
                raise NotFound(f"no pinned peer {peer!r}", field="peer")
            rows = store.escalation_policy_rows(conn, peer)
        out: dict[str, Any] = {}
        for p in Precedence:
            if p.value in rows:
                out[p.value] = {**rows[p.value], "default": False}
            else:
                out[p.value] = {"steps": _steps_json(DEFAULT_POLICIES[p]), "default": True}
        return {"peer": peer, "policies": out}

    def set_policy(
        self, *, peer: str, precedence: str, steps: Any | None, by: str | None = None
    ) -> dict[str, Any]:
        """Set the link's policy for ``precedence`` (``steps`` None: back to the
        default); returns :meth:`policy`. Raises :class:`InvalidInput` naming
        the field (``steps[0].mechanism``), :class:`NotFound` for an unpinned peer."""
        prec = check_enum(precedence, Precedence, "precedence")
        parsed = None if steps is None else parse_policy(steps)
        stamp = format_time(self.node.clock())
        with self.node.store.write() as conn:
            if not repo.peer_exists(conn, peer):
                raise NotFound(f"no pinned peer {peer!r}", field="peer")
            store.set_escalation_policy(
                conn,
                peer=peer,
                precedence=prec.value,
                steps=None if parsed is None else parsed.to_json(),
                now=stamp,
                by=by,
            )
        return self.policy(peer)

    def escalations(self, message: str | None = None) -> list[dict[str, Any]]:
        """Every escalation step taken (of one message when given), in order. Raises nothing."""
        with self.node.store.read() as conn:
            taken = store.steps_taken(conn, None if message is None else [message])
        steps = [row for rows in taken.values() for row in rows]
        return sorted(steps, key=lambda r: (r["at"], r["message_id"], r["step"]))

    def escalate_due(self) -> list[dict[str, Any]]:
        """Take every escalation step due now, each once, and record it.

        For each message not acknowledged (either way), the link's policy for
        its precedence (or the default) says which steps are due
        (:func:`~redline.core.messaging.due_steps`). ``realert`` and ``alert``
        queue notifications; ``propose-fallback`` signs a
        ``fallback-proposal`` to the peer. Returns the steps taken.
        Raises nothing of a step's: one that fails is logged and retried on
        the next tick.
        """
        with self._lock:  # one ticker at a time takes a step
            now = self.node.clock()
            # No step falls due later than MAX_DEADLINE_SECONDS after sending
            # (parse_policy's bound; the defaults' last is 18 hours): older
            # messages are not read at all, however many stay unanswered.
            since = format_time(now - timedelta(seconds=MAX_DEADLINE_SECONDS + 1))
            with self.node.store.read() as conn:
                pending = repo.messages(conn, pending=True, after=(since, ""))
                taken = store.steps_taken(conn, [r.id for r in pending])
                policies: dict[tuple[str, str], EscalationPolicy] = {}
                for r in pending:
                    prec = orjson.loads(r.wire)["body"]["precedence"]
                    key = (str(r.peer), str(prec))
                    if key not in policies:
                        steps = store.escalation_policy(conn, *key)
                        policies[key] = (
                            DEFAULT_POLICIES[Precedence(prec)]
                            if steps is None
                            else parse_policy(steps)
                        )
                history = agreed_history(conn)
            done: list[dict[str, Any]] = []
            for r in pending:
                body = orjson.loads(r.wire)["body"]
                key = (str(r.peer), str(body["precedence"]))
                sent_at = parse_time(r.time)
                due = due_steps(
                    policy=policies[key],
                    sent_at=sent_at,
                    outgoing=r.direction == "out",
                    acknowledged_at=None,
                    taken=[t["step"] for t in taken.get(r.id, [])],
                    now=now,
                )
                for index, step in due:
                    try:
                        done.append(
                            self._take(
                                r,
                                body,
                                index,
                                step.action,
                                step.recipients,
                                step.mechanism,
                                deadline_for(
                                    history.get(str(r.peer), []), body["precedence"], sent_at
                                ),
                            )
                        )
                    except Conflict:
                        continue  # acknowledged, or taken by another tick, meanwhile
                    except Exception:  # one bad step must not stop the others
                        log.exception("escalation step %s of %s failed", index, r.id[:16])
            return done

    def _take(
        self,
        row: Any,
        body: Mapping[str, Any],
        index: int,
        action: StepAction,
        recipients: Sequence[str],
        mechanism: str | None,
        deadline: datetime,
    ) -> dict[str, Any]:
        mid = str(row.id)
        outgoing = row.direction == "out"
        way = f"to {row.peer}" if outgoing else f"from {row.peer}"
        text = (
            f"{str(body['precedence']).upper()} message {mid[:16]} {way} is not acknowledged "
            f"(deadline {format_time(deadline)}): {body['subject']}"
        )

        def still_due(conn: Connection, _at: datetime | None = None) -> None:
            if store.steps_taken(conn, [mid]).get(mid) and any(
                t["step"] == index for t in store.steps_taken(conn, [mid])[mid]
            ):
                raise Conflict("step taken already")
            current = repo.message_to_acknowledge(conn, mid)
            if current is None or current.ack_id is not None:
                raise Conflict("acknowledged meanwhile")

        if action is StepAction.PROPOSE_FALLBACK:
            assert mechanism is not None
            proposal = FallbackProposalBody(
                message=mid,
                mechanism=mechanism,
                note=f"No acknowledgement by {format_time(deadline)}; proposing {mechanism}.",
            )
            detail = f"proposed {mechanism} to {row.peer}"

            def record(conn: Connection, statement: Statement) -> None:
                store.record_step(
                    conn,
                    message_id=mid,
                    step=index,
                    action=action.value,
                    at=statement.time,
                    detail=detail,
                    statement_id=statement.id,
                )

            statement = self.node.send(
                to=str(row.peer),
                kind=FALLBACK_PROPOSAL,
                body=proposal,
                check=still_due,
                then=record,
            )
            return {
                "message": mid,
                "step": index,
                "action": action.value,
                "detail": detail,
                "statement_id": statement.id,
            }
        stamp = format_time(self.node.clock())
        payload = {
            "event": "escalation",
            "action": action.value,
            "node": self.node.party,
            "peer": str(row.peer),
            "direction": str(row.direction),
            "message": mid,
            "precedence": str(body["precedence"]),
            "subject": str(body["subject"]),
            "sent_at": str(row.time),
            "deadline": format_time(deadline),
            "step": index,
            "text": text,
        }
        with self.node.store.write() as conn:
            still_due(conn)
            queued: list[str]
            missing: list[str]
            if self.notifier is None:
                queued, missing = [], list(recipients)
            else:
                queued, missing = self.notifier.queue(
                    conn,
                    names=None if action is StepAction.REALERT else list(recipients),
                    subject=f"[Redline] {text}"[:300],
                    payload=payload,
                    now=stamp,
                )
            who = "duty operators" if action is StepAction.REALERT else "supervisors"
            detail = f"{who}: notified {', '.join(queued) or 'nobody'}"
            if missing:
                detail += f"; no recipient {', '.join(missing)}"
            store.record_step(
                conn, message_id=mid, step=index, action=action.value, at=stamp, detail=detail
            )
        return {"message": mid, "step": index, "action": action.value, "detail": detail}

    # -- notification recipients --------------------------------------------------------

    def add_recipient(self, *, name: str, channel: str, address: str, duty: bool) -> dict[str, Any]:
        """Add (or replace) a recipient. Raises :class:`InvalidInput` naming the field."""
        if (
            not name
            or len(name) > 80
            or any(c not in "abcdefghijklmnopqrstuvwxyz0123456789._-" for c in name)
        ):
            raise InvalidInput(
                "must be 1-80 lower-case letters, digits, '.', '_' or '-'", field="name"
            )
        check_address(channel, address)
        with self.node.store.write() as conn:
            store.add_recipient(
                conn,
                name=name,
                channel=channel,
                address=address,
                duty=duty,
                now=format_time(self.node.clock()),
            )
        return {"name": name, "channel": channel, "address": address, "duty": duty}

    def remove_recipient(self, name: str) -> None:
        """Remove a recipient. Raises :class:`NotFound` (field ``name``)."""
        with self.node.store.write() as conn:
            if not store.remove_recipient(conn, name):
                raise NotFound(f"no recipient {name!r}", field="name")

    def recipients(self) -> list[dict[str, Any]]:
        """Every recipient. Raises nothing."""
        with self.node.store.read() as conn:
            return store.recipients(conn)

    def tick(self) -> None:
        """Take the escalation steps due and send the notifications due (the
        node's ticker calls it every second). Raises what the store raises."""
        self.escalate_due()
        if self.notifier is not None:
            self.notifier.deliver_due()

    def notifications(self, limit: int = 100) -> dict[str, Any]:
        """The latest notifications and attempts, newest first. Raises nothing."""
        with self.node.store.read() as conn:
            return {
                "notifications": store.notification_rows(conn, limit),
                "attempts": store.notification_attempts(conn, limit),
            }
