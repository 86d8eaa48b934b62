"""How messages are handled: agreed handling times, receipts and escalation.

A link's two parties agree how long each precedence may wait for its
acknowledgement: one side signs ``link-terms`` (the deadline of each
precedence, in seconds), the other ``link-terms-accept`` naming it. Until
terms are agreed the ACP 121 defaults apply (:data:`DEFAULT_HANDLING`); once
accepted, a message signed after the acceptance is held to the agreed
deadline (:func:`handling_time`).

An operator's opening of a received message is a ``seen`` statement; an
unanswered message is escalated by a policy of steps, each due a fixed time
after the message was signed (:func:`due_steps`); the node proposes a
fallback mechanism to its peer with a ``fallback-proposal``.

Pure: no clock, no I/O. Times are passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import Field, ValidationError, model_validator

from redline.core.errors import InvalidInput
from redline.core.fields import (
    ActedBy,
    Body,
    Hex64,
    Ident,
    Trimmed,
    TrimmedOrEmpty,
    field_error,
    invalid_statement,
)
from redline.core.hotline._checks import check_enum, check_utc
from redline.core.hotline.lifecycle import ACK_DEADLINES
from redline.core.kinds import Precedence

__all__ = [
    "DEFAULT_HANDLING",
    "DEFAULT_POLICIES",
    "FALLBACK_PROPOSAL",
    "LINK_TERMS",
    "LINK_TERMS_ACCEPT",
    "MAX_DEADLINE_SECONDS",
    "MAX_STEPS",
    "MESSAGING_BODIES",
    "SEEN",
    "AgreedTerms",
    "Deadlines",
    "EscalationPolicy",
    "FallbackProposalBody",
    "LinkTermsAcceptBody",
    "LinkTermsBody",
    "SeenBody",
    "Step",
    "StepAction",
    "deadline_for",
    "due_steps",
    "handling_time",
    "is_late",
    "parse_policy",
    "terms_history",
]

LINK_TERMS: Final = "link-terms"
LINK_TERMS_ACCEPT: Final = "link-terms-accept"
SEEN: Final = "seen"
FALLBACK_PROPOSAL: Final = "fallback-proposal"

#: The longest acknowledgement deadline terms may set: 7 days.
MAX_DEADLINE_SECONDS: Final = 7 * 24 * 3600
#: The most steps one escalation policy holds.
MAX_STEPS: Final = 16

#: Acknowledgement deadlines until a link agrees its own (ACP 121's handling
#: times: FLASH 10 minutes, IMMEDIATE 30, PRIORITY 3 hours, ROUTINE 6).
DEFAULT_HANDLING: Final[Mapping[Precedence, timedelta]] = ACK_DEADLINES

Seconds = Annotated[int, Field(ge=1, le=MAX_DEADLINE_SECONDS)]


class Deadlines(Body):
    """Seconds allowed for the acknowledgement of each precedence."""

    flash: Seconds
    immediate: Seconds
    priority: Seconds
    routine: Seconds

    @model_validator(mode="after")
    def _ladder(self) -> Deadlines:
        # A higher precedence is never given longer than a lower one.
        ladder = [self.flash, self.immediate, self.priority, self.routine]
        names = ["flash", "immediate", "priority", "routine"]
        for i in range(1, 4):
            if ladder[i] < ladder[i - 1]:
                raise field_error(
                    f"must be at least {names[i - 1]}'s {ladder[i - 1]} seconds", names[i]
                )
        return self

    def as_map(self) -> dict[Precedence, timedelta]:
        """Each precedence's deadline. Raises nothing."""
        return {p: timedelta(seconds=getattr(self, p.value)) for p in Precedence}


class LinkTermsBody(Body):
    """Proposed handling times for the pair (signed by the proposer)."""

    deadlines: Deadlines
    note: Annotated[TrimmedOrEmpty, Field(max_length=2000)] = ""
    by: ActedBy | None = None


class LinkTermsAcceptBody(Body):
    """The other party's acceptance of a ``link-terms`` statement, by its id."""

    terms: Hex64
    by: ActedBy | None = None


class SeenBody(Body):
    """An operator opened a received message (the id of the message)."""

    message: Hex64
    by: ActedBy | None = None


class FallbackProposalBody(Body):
    """The node proposes that an unanswered message be taken up over another
    mechanism (e.g. the attaché channel); signed by the node, automatically."""

    message: Hex64
    mechanism: Ident
    note: Annotated[Trimmed, Field(max_length=2000)] | None = None


#: This module's kinds, registered in :mod:`redline.core.registry`.
MESSAGING_BODIES: Final[dict[str, type[Body]]] = {
    LINK_TERMS: LinkTermsBody,
    LINK_TERMS_ACCEPT: LinkTermsAcceptBody,
    SEEN: SeenBody,
    FALLBACK_PROPOSAL: FallbackProposalBody,
}


# -- handling times -------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AgreedTerms:
    """Terms both parties signed: the proposal's id, when the acceptance was
    signed, and the deadlines."""

    terms: str
    accepted_at: datetime
    deadlines: Mapping[Precedence, timedelta]


def handling_time(
    terms_history: Iterable[AgreedTerms], precedence: Precedence | str, at: datetime
) -> timedelta:
    """How long a message of ``precedence`` signed at ``at`` may wait for its
    acknowledgement: the deadlines of the latest terms accepted before ``at``,
    or :data:`DEFAULT_HANDLING` when none were.

    Raises:
        InvalidInput: unknown precedence, or ``at`` not an aware UTC datetime.
    """
    p = check_enum(precedence, Precedence, "precedence")
    check_utc(at, "at")
    latest: AgreedTerms | None = None
    for terms in terms_history:
        # Messages signed after the acceptance; one signed at the same
        # microsecond was signed without knowing of it.
        if terms.accepted_at < at and (latest is None or terms.accepted_at > latest.accepted_at):
            latest = terms
    return (latest.deadlines if latest is not None else DEFAULT_HANDLING)[p]


def deadline_for(
    terms_history: Iterable[AgreedTerms], precedence: Precedence | str, sent_at: datetime
) -> datetime:
    """When a message of ``precedence`` signed at ``sent_at`` becomes overdue.

    Raises:
        InvalidInput: as :func:`handling_time`.
    """
    return sent_at + handling_time(terms_history, precedence, sent_at)


def is_late(deadline: datetime, acknowledged_at: datetime | None) -> bool:
    """Whether an acknowledgement signed at ``acknowledged_at`` came after
    ``deadline`` (one exactly at it is in time). Raises nothing."""
    return acknowledged_at is not None and acknowledged_at > deadline


# -- escalation -----------------------------------------------------------------


class StepAction(StrEnum):
    """What an escalation step does; the values are the wire (and API) values."""

    #: notify this node's duty operators again
    REALERT = "realert"
    #: notify named supervisors
    ALERT = "alert"
    #: propose a fallback mechanism to the peer (a signed ``fallback-proposal``)
    PROPOSE_FALLBACK = "propose-fallback"


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """One step: ``after`` the message was signed, do ``action`` (``alert``
    names its ``recipients``; ``propose-fallback`` its ``mechanism``)."""

    after: timedelta
    action: StepAction
    recipients: tuple[str, ...] = ()
    mechanism: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The step as the API and the store hold it. Raises nothing."""
        out: dict[str, Any] = {
            "after_seconds": int(self.after.total_seconds()),
            "action": self.action.value,
        }
        if self.recipients:
            out["recipients"] = list(self.recipients)
        if self.mechanism is not None:
            out["mechanism"] = self.mechanism
        return out


class _StepIn(Body):
    after_seconds: Annotated[int, Field(ge=0, le=MAX_DEADLINE_SECONDS)]
    action: Annotated[StepAction, Field(strict=False)]
    recipients: Annotated[list[Ident], Field(max_length=32)] = []
    mechanism: Ident | None = None

    @model_validator(mode="after")
    def _needs(self) -> _StepIn:
        if self.action is StepAction.ALERT and not self.recipients:
            raise field_error("an alert names at least one recipient", "recipients")
        if self.action is StepAction.PROPOSE_FALLBACK and self.mechanism is None:
            raise field_error("a fallback proposal names the mechanism", "mechanism")
        if self.action is not StepAction.PROPOSE_FALLBACK and self.mechanism is not None:
            raise field_error("only propose-fallback names a mechanism", "mechanism")
        if self.action is StepAction.PROPOSE_FALLBACK and self.recipients:
            raise field_error("propose-fallback goes to the peer, not to recipients", "recipients")
        return self


class _PolicyIn(Body):
    steps: Annotated[list[_StepIn], Field(max_length=MAX_STEPS)]


@dataclass(frozen=True, slots=True)
class EscalationPolicy:
    """Steps in the order they fall due (by ``after``, then as given)."""

    steps: tuple[Step, ...]

    def to_json(self) -> list[dict[str, Any]]:
        """The steps as the API and the store hold them. Raises nothing."""
        return [s.to_json() for s in self.steps]


def parse_policy(steps: Any, field: str = "steps") -> EscalationPolicy:
    """A policy from its JSON form (a list of ``{after_seconds, action,
    recipients?, mechanism?}``), steps ordered by ``after_seconds``.

    Raises:
        InvalidInput: naming the bad field (``steps[1].mechanism``).
    """
    try:
        parsed = _PolicyIn.model_validate({"steps": steps})
    except ValidationError as exc:
        error = invalid_statement(exc, prefix="")
        raise InvalidInput(error.message, field=(error.field or field)) from None
    made = [
        Step(
            after=timedelta(seconds=s.after_seconds),
            action=s.action,
            recipients=tuple(s.recipients),
            mechanism=s.mechanism,
        )
        for s in parsed.steps
    ]
    return EscalationPolicy(tuple(sorted(made, key=lambda s: s.after)))


def _default_policy(deadline: timedelta) -> EscalationPolicy:
    return EscalationPolicy(
        (
            Step(after=deadline, action=StepAction.REALERT),
            Step(after=deadline * 2, action=StepAction.ALERT, recipients=("supervisor",)),
            Step(
                after=deadline * 3,
                action=StepAction.PROPOSE_FALLBACK,
                mechanism="attache-channel",
            ),
        )
    )


#: Each precedence's policy until an operator sets the link's own: at the
#: default deadline re-alert the duty operators, at twice it alert the
#: recipient named ``supervisor``, at three times it propose the attaché
#: channel to the peer.
DEFAULT_POLICIES: Final[Mapping[Precedence, EscalationPolicy]] = {
    p: _default_policy(d) for p, d in DEFAULT_HANDLING.items()
}


def due_steps(
    *,
    policy: EscalationPolicy,
    sent_at: datetime,
    outgoing: bool,
    acknowledged_at: datetime | None,
    taken: Iterable[int],
    now: datetime,
) -> list[tuple[int, Step]]:
    """The steps of ``policy`` due for one message as of ``now``, in order,
    as ``(index, step)``: those whose time (``sent_at + after``) has come,
    not ``taken`` yet. An acknowledgement signed by ``now`` stops the rest
    (nothing is due). A fallback is proposed only for a message this node
    sent (``outgoing``): the peer is the one that did not answer.

    Raises:
        InvalidInput: ``sent_at`` or ``now`` not an aware UTC datetime.
    """
    check_utc(sent_at, "sent_at")
    check_utc(now, "now")
    if acknowledged_at is not None and acknowledged_at <= now:
        return []
    done = set(taken)
    return [
        (i, step)
        for i, step in enumerate(policy.steps)
        if i not in done
        and sent_at + step.after <= now
        and (outgoing or step.action is not StepAction.PROPOSE_FALLBACK)
    ]


def terms_history(rows: Sequence[tuple[str, datetime, Mapping[str, int]]]) -> list[AgreedTerms]:
    """:class:`AgreedTerms` from ``(terms id, accepted at, {precedence: seconds})``
    rows as a store or a bundle holds them. Raises nothing for rows that were
    validated when signed."""
    return [
        AgreedTerms(
            terms=tid,
            accepted_at=at,
            deadlines={p: timedelta(seconds=int(d[p.value])) for p in Precedence},
        )
        for tid, at, d in rows
    ]
