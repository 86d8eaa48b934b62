"""Whether a log answers a statement that wanted an answer, as a bundle shows it.

An engagement request must be answered (accepted, declined or countered) by
its deadline, and a FLASH or IMMEDIATE message acknowledged by its
addressee's operator. Given the statements and leaves a bundle discloses of
each log, :func:`judge` says which :class:`Outcome` the evidence supports and
why, in a line a person can read. Pure: the logs are parsed and verified by
the caller (``redline.verify``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from redline.core.checkpoint import SignedCheckpoint
from redline.core.hotline.lifecycle import Precedence
from redline.core.leaf import LeafFields
from redline.core.messaging import LINK_TERMS, LINK_TERMS_ACCEPT, AgreedTerms, deadline_for
from redline.core.statement import Statement, format_time, parse_time

__all__ = [
    "DisclosedLog",
    "Judgement",
    "Outcome",
    "bundle_terms",
    "judge",
    "response_deadline",
]


class Outcome(StrEnum):
    """What a bundle proves about a statement that wanted an answer (docs/record.md)."""

    #: a disclosed reply, signed by the deadline
    ANSWERED = "answered"
    #: a disclosed reply, signed after the deadline
    ANSWERED_LATE = "answered-late"
    #: proven: the addressee's whole log runs past the deadline with no reply in it
    NO_RESPONSE = "no-response"
    #: the addressee's node received the statement only after its deadline
    LATE_DELIVERY = "late-delivery"
    #: the addressee's log does not yet run past the deadline
    OPEN = "open"
    #: absence cannot be proven from this bundle
    UNKNOWN = "unknown"


@dataclass(slots=True)
class DisclosedLog:
    """One party's log as a bundle discloses it, verified: the cosigned
    checkpoint, the statements disclosed (by id) and, when the bundle holds
    them all, every leaf up to the checkpoint."""

    party: str
    checkpoint: SignedCheckpoint
    statements: dict[str, Statement] = field(default_factory=dict)
    leaves: list[LeafFields] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Judgement:
    """An :class:`Outcome`, the line that explains it, the id of the first
    reply (if one is disclosed) and, for ``no-response``, the evidence."""

    outcome: Outcome
    line: str
    reply: str | None = None
    evidence: dict[str, Any] | None = None


def bundle_terms(logs: Iterable[DisclosedLog]) -> dict[frozenset[str], list[AgreedTerms]]:
    """The link terms a bundle shows agreed, per pair of parties: a
    ``link-terms`` disclosed in its proposer's log and a ``link-terms-accept``
    naming it, signed by its addressee, disclosed in theirs. Terms whose
    acceptance is not disclosed are not counted (the defaults apply).
    Raises nothing for statements that verified."""
    statements = [s for log in logs for s in log.statements.values()]
    proposals = {s.id: s for s in statements if s.kind == LINK_TERMS}
    out: dict[frozenset[str], list[AgreedTerms]] = {}
    for accept in statements:
        if accept.kind != LINK_TERMS_ACCEPT:
            continue
        terms = proposals.get(str(accept.body["terms"]))
        if terms is None or (terms.sender, terms.to) != (accept.to, accept.sender):
            continue
        deadlines: Mapping[str, int] = terms.body["deadlines"]
        out.setdefault(frozenset((terms.sender, terms.to)), []).append(
            AgreedTerms(
                terms=terms.id,
                accepted_at=accept.sent_at,
                deadlines={p: timedelta(seconds=int(deadlines[p.value])) for p in Precedence},
            )
        )
    return out


def response_deadline(statement: Statement, terms: Sequence[AgreedTerms] = ()) -> datetime | None:
    """When ``statement`` must be answered by: a request's deadline, a FLASH or
    IMMEDIATE message's acknowledgement deadline under the pair's agreed
    ``terms`` (:func:`bundle_terms`; the defaults without); None if it needs
    no answer. Raises :class:`~redline.core.errors.InvalidStatement` for a
    malformed deadline."""
    if statement.kind == "request":
        return parse_time(str(statement.body["deadline"]))
    precedence = statement.body.get("precedence")
    if statement.kind == "message" and precedence in (Precedence.FLASH, Precedence.IMMEDIATE):
        return deadline_for(terms, str(precedence), statement.sent_at)
    return None


def _receipt_of(statement: Statement, log: DisclosedLog) -> Statement | None:
    """The earliest receipt in ``log`` that acknowledges ``statement``."""
    receipts = [
        s
        for s in log.statements.values()
        if s.kind == "receipt" and any(a["id"] == statement.id for a in s.body["ack"])
    ]
    return min(receipts, key=lambda s: s.time, default=None)


# A request is answered by the addressee's accept, decline or counter (a
# withdrawal is the requester's act); a message by the addressee operator's
# ``ack``. The receipt the addressee's node returns shows delivery, not an answer.
_ANSWERS = ("accept", "decline", "counter")


def _replies(statement: Statement, other: DisclosedLog) -> list[Statement]:
    if statement.kind != "request":
        return [
            s
            for s in other.statements.values()
            if s.kind == "ack" and s.to == statement.sender and s.body["message"] == statement.id
        ]
    return [
        s
        for s in other.statements.values()
        if s.kind == "response"
        and s.to == statement.sender
        and s.body.get("request") == statement.body["id"]
        and s.body.get("action") in _ANSWERS
    ]


def _could_reply(leaf: LeafFields, statement: Statement) -> bool:
    """Whether a leaf, seen without its statement, might be the reply."""
    if leaf.to != statement.sender:
        return False
    return leaf.kind == ("response" if statement.kind == "request" else "ack")


def judge(
    statement: Statement,
    deadline: datetime,
    *,
    other: DisclosedLog | None,
    own: DisclosedLog,
) -> Judgement:
    """Whether ``other`` (the addressee's log) answers ``statement`` from ``own``.

    ``answered`` / ``answered-late``: a disclosed reply, signed by or after
    the deadline (whether it reached the requester is said too).
    ``no-response``: proven, the bundle holds the addressee's whole log up to
    a checkpoint, its root recomputed; the addressee's own leaf times run past
    the deadline; and every leaf in it that could be a reply is disclosed and
    is not one. ``late-delivery``: the addressee's node received it only after
    its deadline. ``open``: the log does not yet run past the deadline.
    ``unknown``: absence cannot be proven from this bundle. Raises nothing.
    """
    if other is None:
        return Judgement(
            outcome=Outcome.UNKNOWN, line=f"{statement.to}'s log is not in this bundle"
        )
    receipt = _receipt_of(statement, other)
    delivered = f"received {receipt.time}" if receipt else "no receipt disclosed"
    replies = _replies(statement, other)
    if replies:
        first = min(replies, key=lambda s: s.time)
        what = "acknowledged" if first.kind == "ack" else f"{first.body['action']}"
        if _receipt_of(first, own) is not None:
            reached = f"; the reply reached {statement.sender}"
        else:
            reached = f"; delivery of the reply to {statement.sender} is not shown"
        if first.sent_at > deadline:
            if first.kind == "ack":
                what = "acknowledged LATE"
            return Judgement(
                outcome=Outcome.ANSWERED_LATE,
                line=(
                    f"{delivered}; {what} {first.time}, AFTER the deadline "
                    f"{format_time(deadline)}{reached}"
                ),
                reply=first.id,
            )
        return Judgement(
            outcome=Outcome.ANSWERED,
            line=f"{delivered}; {what} {first.time}{reached}",
            reply=first.id,
        )
    if receipt is not None and receipt.sent_at > deadline:
        return Judgement(
            outcome=Outcome.LATE_DELIVERY,
            line=(
                f"{delivered}: {statement.to}'s node received it only after its deadline "
                f"{format_time(deadline)}"
            ),
        )
    if other.leaves is None:
        return Judgement(
            outcome=Outcome.UNKNOWN,
            line=(
                f"{delivered}; no reply among the disclosed statements, but the bundle does "
                f"not hold {statement.to}'s whole log, so absence is not proven"
            ),
        )
    hidden = [
        leaf
        for leaf in other.leaves
        if _could_reply(leaf, statement) and leaf.id not in other.statements
    ]
    if hidden:
        return Judgement(
            outcome=Outcome.UNKNOWN,
            line=(
                f"{delivered}; {statement.to}'s log holds {len(hidden)} {hidden[0].kind} "
                f"statement(s) to {statement.sender} that this bundle does not disclose "
                f"(first {hidden[0].id[:16]}); one may be the reply"
            ),
        )
    size = other.checkpoint.checkpoint.size
    last = max((leaf.time for leaf in other.leaves), default=None)
    if last is None or parse_time(last) <= deadline:
        return Judgement(
            outcome=Outcome.OPEN,
            line=(
                f"{delivered}; no reply yet, and {statement.to}'s log (size {size}) does not "
                f"run past the deadline {format_time(deadline)}"
            ),
        )
    return Judgement(
        outcome=Outcome.NO_RESPONSE,
        line=(
            f"{delivered}; NO RESPONSE. {statement.to}'s own log, whole up to size {size} and "
            f"signed by {statement.to}, runs to {last}, past the deadline "
            f"{format_time(deadline)}, and holds no reply to {statement.sender}"
        ),
        evidence={"log": statement.to, "size": size, "last_leaf_time": last},
    )
