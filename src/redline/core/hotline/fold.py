"""Fold a node's signed hotline statements (both directions) into the domain.

Hotline state is never stored as such: it is derived, every time, from the
signed statements a node holds, through the folds and transition tables of
this package. Both nodes hold the same statements once delivery has caught
up, and the fold depends only on the statements (ordered by their signed
``time``) and ``now``, so both nodes come to the same outcome.

What a statement may not do is refused in one of two places:

- **On receipt** (:mod:`redline.core.hotline.checks`), when the rule depends
  only on the statement and what the receiver already holds, not on arrival order: a
  response to a request the receiver never made or did not address to the
  sender, a response signed at or after the request's deadline, an answer
  signed after the ring timeout, an office on the wrong side, a window or
  deadline further ahead of the statement's time than the horizon. The link
  answers 422 ``invalid-statement`` and stores nothing. A well-behaved peer
  never sends these: its own service checks the same rules at the moment it
  signs.
- **In the fold**, when two parties acted at once without seeing each other
  (a withdrawal crossing an acceptance, a message crossing a hang-up). Both
  statements stay in the record; the one that comes second by signed time is
  listed in :attr:`Record.refused` with the reason, and has no effect.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from redline.core.errors import Conflict, InvalidInput, InvalidStatement, RedlineError
from redline.core.hotline import kinds as k
from redline.core.hotline.board import Contact, ContactKind
from redline.core.hotline.bodies import (
    CallBody,
    CallEventBody,
    CallMessageBody,
    CallMissedBody,
    CounterpartBody,
    DirectoryBody,
    JointSummarySignBody,
    MechanismStatusBody,
    ReadoutBody,
    RequestLapsedBody,
)
from redline.core.hotline.calls import Call, call_view
from redline.core.hotline.directory import (
    CounterpartDeclaration,
    Directory,
)
from redline.core.hotline.history import PublicHistory
from redline.core.hotline.lifecycle import (
    MECHANISM,
    CallAction,
    CallState,
    MechanismState,
    RequestState,
    transition,
)
from redline.core.hotline.mechanism import (
    Mechanism,
    MechanismEvent,
    MechanismStatus,
    party_states,
)
from redline.core.hotline.record import (
    CallMessage,
    JointSummary,
    Readout,
    Record,
    Refused,
    call_event_of,
    call_of,
    request_of,
    response_of,
    with_declaration,
    with_hotlines,
    with_party,
)
from redline.core.hotline.requests import (
    EngagementRequest,
    counter_request,
    request_outcome,
)
from redline.core.statement import Statement, format_time, parse_time

__all__ = [
    "fold",
    "mechanism_move",
    "participants",
]


def participants(mechanism: Mechanism, directory: Directory) -> set[str]:
    """The parties whose offices ``mechanism`` joins. Raises nothing."""
    return {o.party for o in directory.offices if o.id in mechanism.offices}


# -- the fold ----------------------------------------------------------------------


def _order(statements: Iterable[Statement]) -> list[Statement]:
    unique = {s.id: s for s in statements if s.kind in k.HOTLINE_KINDS}
    return sorted(unique.values(), key=lambda s: (s.time, s.sender, s.seq))


class _Folder:
    def __init__(
        self,
        record: Record,
        history: PublicHistory | None,
        acknowledged: Mapping[str, datetime] | None = None,
    ) -> None:
        self.r = record
        self.history = history
        self.acknowledged = acknowledged or {}

    def _known_to(self, sender: str, at: datetime, statements: Iterable[Statement]) -> bool:
        """Whether ``sender`` held one of ``statements`` before ``at``: its own, or
        one it had signed a receipt for (so a crossing on the wire is ruled out)."""
        for s in statements:
            if s.sender == sender:
                return True
            acked = self.acknowledged.get(s.id)
            if acked is not None and acked < at:
                return True
        return False

    def _effective(self, kind: str, key: str, ident: str, before: datetime) -> list[Statement]:
        refused = {x.statement_id for x in self.r.refused}
        return [
            s
            for s in self.r.statements
            if s.kind == kind
            and getattr(s.model, key, None) == ident
            and s.sent_at < before
            and s.id not in refused
        ]

    def refuse(self, st: Statement, reason: str) -> None:
        self.r.refused.append(
            Refused(
                statement_id=st.id, kind=st.kind, sender=st.sender, at=st.sent_at, reason=reason
            )
        )

    def apply(self, st: Statement, *, strict: bool = False) -> None:
        """Fold ``st`` in; an illegal step (Conflict) is always refused, not raised.

        With ``strict``, any other error (a malformed or misaddressed act) is
        raised instead of refused.
        """
        handler = getattr(self, "_" + st.kind.replace("-", "_"))
        try:
            handler(st)
        except Conflict as exc:
            self.refuse(st, str(exc))
        except RedlineError as exc:
            if strict:
                raise
            self.refuse(st, str(exc))

    def _directory(self, st: Statement) -> None:
        body = st.typed(DirectoryBody)
        if body.party != st.sender:
            raise InvalidStatement(
                f"{st.sender} can only publish its own directory", field="body.party"
            )
        self.r.directory = with_party(self.r.directory, body)
        self.r.mechanisms = with_hotlines(self.r.mechanisms, self.r.directory)
        self.r.sources[f"party:{st.sender}"] = st.id

    def _counterpart(self, st: Statement) -> None:
        body = st.typed(CounterpartBody)
        d = CounterpartDeclaration(
            declaring_party=st.sender,
            own_office=body.own_office,
            counterpart_office=body.counterpart_office,
            note=body.note,
        )
        self.r.directory = with_declaration(self.r.directory, d)
        self.r.sources[f"declaration:{st.sender}:{d.own_office}"] = st.id

    def _mechanism_status(self, st: Statement) -> None:
        body = st.typed(MechanismStatusBody)
        mid = body.mechanism
        if mid not in {m.id for m in self.r.mechanisms}:
            raise InvalidStatement(f"unknown mechanism {mid!r}", field="body.mechanism")
        event = MechanismEvent(
            mechanism_id=mid,
            status=body.status,
            by_party=st.sender,
            reason=body.reason,
            at=st.sent_at,
        )
        mechanism = next(m for m in self.r.mechanisms if m.id == mid)
        try:
            mechanism_move(
                self.r.mechanism_events,
                mechanism,
                party=st.sender,
                status=event.status.value,
                at=st.sent_at,
                participants=participants(mechanism, self.r.directory),
            )
        except InvalidInput as exc:
            raise InvalidStatement(exc.message, field="body.mechanism") from exc
        self.r.sources[f"mechanism_event:{len(self.r.mechanism_events)}"] = st.id
        self.r.mechanism_events.append(event)

    def _request(self, st: Statement) -> None:
        req = request_of(st, self.r.directory)
        if req.id in self.r.requests or self._history_has("request", req.id):
            raise InvalidStatement(f"request id {req.id!r} is already used", field="body.id")
        self.r.requests[req.id] = req
        self.r.sources[f"request:{req.id}"] = st.id

    def _history_has(self, kind: str, ident: str) -> bool:
        return self.history is not None and f"{kind}:{ident}" in self.history.records

    def _response(self, st: Statement) -> None:
        resp = response_of(st)
        req = self.r.requests.get(resp.request_id)
        if req is None:
            why = f"no request {resp.request_id!r}"
            if self.r.made_without_effect(resp.request_id):
                # The counter that made it crossed a withdrawal: so does this.
                raise Conflict(
                    f"{why}: the counter that made it had no effect", field="body.request"
                )
            raise InvalidStatement(why, field="body.request")
        events = self.r.request_events(req.id) + [resp]
        request_outcome(req, events, max(self.r.as_of, resp.at))
        if resp.counter is not None:
            new = counter_request(req, resp, directory=self.r.directory)
            if new.id in self.r.requests:
                raise InvalidStatement(
                    f"request id {new.id!r} is already used", field="body.counter.id"
                )
            self.r.requests[new.id] = new
            self.r.sources[f"request:{new.id}"] = st.id
        self.r.responses.append(resp)
        self.r.sources[f"response:{st.id}"] = st.id

    def _request_lapsed(self, st: Statement) -> None:
        req = self.lapsed_request(st.sender, st.typed(RequestLapsedBody), st.sent_at)
        self.r.lapse_records.setdefault(req.id, st.id)

    def lapsed_request(
        self, sender: str, body: RequestLapsedBody, at: datetime
    ) -> EngagementRequest:
        """The request a ``request-lapsed`` by ``sender`` signed at ``at`` records.

        Raises:
            InvalidStatement: not the sender's request, the wrong deadline, a
                time before the deadline, or an answer the sender already held.
            Conflict: answered before the deadline by a response the sender
                had not yet received (the two crossed).
        """
        req = self.r.requests.get(body.request)
        if req is None or req.from_party != sender:
            raise InvalidStatement("not a request of the sender", field="body.request")
        if parse_time(body.deadline) != req.deadline:
            raise InvalidStatement(
                f"request {req.id} has deadline {format_time(req.deadline)}", field="body.deadline"
            )
        if at < req.deadline:
            raise InvalidStatement(
                f"signed at {format_time(at)}, before the deadline of {req.id}",
                field="body.deadline",
            )
        events = [e for e in self.r.request_events(req.id) if e.at <= at]
        outcome = request_outcome(req, events, at)
        if outcome.state is not RequestState.LAPSED:
            why = f"request {req.id} was {outcome.state.value} before its deadline"
            answers = self._effective(k.RESPONSE, "request", req.id, req.deadline)
            if self._known_to(sender, at, answers):
                raise InvalidStatement(why, field="body.request")
            raise Conflict(why, field="body.request")
        return req

    def _call(self, st: Statement) -> None:
        call = call_of(st, self.r.directory)
        if call.id in self.r.calls or self._history_has("call", call.id):
            raise InvalidStatement(f"call id {call.id!r} is already used", field="body.id")
        self.r.calls[call.id] = call
        self.r.ring_timeouts[call.id] = timedelta(seconds=st.typed(CallBody).ring_timeout)
        self.r.sources[f"call:{call.id}"] = st.id

    def _get_call(self, call_id: str) -> Call:
        call = self.r.calls.get(call_id)
        if call is None:
            raise InvalidStatement(f"no call {call_id!r}", field="body.call")
        return call

    def _call_event(self, st: Statement) -> None:
        event = call_event_of(st)
        call = self._get_call(event.call_id)
        events = self.r.call_events_of(call.id) + [event]
        call_view(
            call, events, max(self.r.as_of, event.at), ring_timeout=self.r.ring_timeouts[call.id]
        )
        self.r.call_events.append(event)

    def _call_missed(self, st: Statement) -> None:
        call = self.missed_call(st.sender, st.typed(CallMissedBody), st.sent_at)
        self.r.missed_records.setdefault(call.id, st.id)

    def missed_call(self, sender: str, body: CallMissedBody, at: datetime) -> Call:
        """The call a ``call-missed`` by ``sender`` signed at ``at`` records.

        Raises:
            InvalidStatement: not the sender's call, still ringing at ``at``,
                or an answer or decline the sender already held.
            Conflict: answered or declined by an event the sender had not yet
                received (the two crossed).
        """
        call = self._get_call(body.call)
        if call.from_party != sender:
            raise InvalidStatement("only the caller records a missed call", field="body.call")
        timeout = self.r.ring_timeouts[call.id]
        if at < call.placed_at + timeout:
            raise InvalidStatement(
                f"call {call.id} was still ringing at {format_time(at)}", field="body.call"
            )
        events = [e for e in self.r.call_events_of(call.id) if e.at <= at]
        view = call_view(call, events, at, ring_timeout=timeout)
        if view.state is not CallState.MISSED:
            why = f"call {call.id} was {view.state.value}, not missed"
            acts = self._effective(k.CALL_EVENT, "call", call.id, call.placed_at + timeout)
            if self._known_to(sender, at, acts):
                raise InvalidStatement(why, field="body.call")
            raise Conflict(why, field="body.call")
        return call

    def _call_message(self, st: Statement) -> None:
        body = st.typed(CallMessageBody)
        call = self._get_call(body.call)
        if st.sender not in (call.from_party, call.to_party):
            raise InvalidStatement(f"{st.sender} is not on call {call.id}", field="body.call")
        view = call_view(
            call,
            [e for e in self.r.call_events_of(call.id) if e.at <= st.sent_at],
            max(st.sent_at, call.placed_at),
            ring_timeout=self.r.ring_timeouts[call.id],
        )
        if view.state is not CallState.ANSWERED:
            why = f"call {call.id} is {view.state.value}, not open for messages"
            # A message crossing the hang-up on the wire is folded as refused, not
            # refused on receipt: the sender had not seen the end when it spoke.
            ends = [
                s
                for s in self._effective(k.CALL_EVENT, "call", call.id, st.sent_at)
                if s.typed(CallEventBody).action is CallAction.END
            ]
            if ends and not self._known_to(st.sender, st.sent_at, ends):
                raise Conflict(why, field="body.call")
            raise InvalidStatement(why, field="body.call")
        self.r.messages.append(
            CallMessage(
                statement_id=st.id,
                call_id=call.id,
                sender=st.sender,
                at=st.sent_at,
                text=body.text,
                lang=body.lang,
            )
        )

    def _readout(self, st: Statement) -> None:
        body = st.typed(ReadoutBody)
        if any(r.id == body.id for r in self.r.readouts):
            raise InvalidStatement(f"readout id {body.id!r} is already used", field="body.id")
        self.r.readouts.append(
            Readout(
                statement_id=st.id,
                id=body.id,
                engagement=body.engagement,
                party=st.sender,
                at=st.sent_at,
                text=body.text,
                lang=body.lang,
            )
        )

    def _joint_summary(self, st: Statement) -> None:
        body = st.typed(ReadoutBody)
        if body.id in self.r.summaries:
            raise InvalidStatement(f"summary id {body.id!r} is already used", field="body.id")
        self.r.summaries[body.id] = JointSummary(
            statement_id=st.id,
            id=body.id,
            engagement=body.engagement,
            proposer=st.sender,
            at=st.sent_at,
            text=body.text,
            lang=body.lang,
            signed_by=[st.sender],
        )

    def _joint_summary_sign(self, st: Statement) -> None:
        body = st.typed(JointSummarySignBody)
        summary = self.r.summaries.get(body.summary)
        if summary is None:
            raise InvalidStatement(f"no summary {body.summary!r}", field="body.summary")
        if body.sha256 != summary.sha256:
            raise InvalidStatement("does not match the summary's text", field="body.sha256")
        if st.sender not in summary.signed_by:
            summary.signed_by.append(st.sender)


def mechanism_move(
    events: Sequence[MechanismEvent],
    mechanism: Mechanism,
    *,
    party: str,
    status: str,
    at: datetime,
    participants: set[str],
) -> None:
    """Check that ``party`` may move ``mechanism`` to ``status`` at ``at``.

    Raises:
        InvalidInput: ``party`` is not one of the mechanism's ``participants``.
        Conflict: the move is illegal from ``party``'s own status; naming who
            suspended it when ``party`` tries to resume another's suspension.
    """
    if party not in participants:
        raise InvalidInput(
            f"{party} is not a party to {mechanism.id} ({', '.join(sorted(participants))})",
            field="mechanism",
        )
    states = party_states(events, mechanism.id, at)
    own = states.get(party, (MechanismState.UNRECORDED, None))[0]
    try:
        transition(MECHANISM, own, status)
    except Conflict as exc:
        others = [
            e
            for p, (state, e) in sorted(states.items())
            if p != party and state is MechanismState.SUSPENDED
        ]
        if status == MechanismStatus.RESUMED and others:
            who = others[0]
            raise Conflict(
                f"{mechanism.id} was suspended by {who.by_party} on {format_time(who.at)}; "
                f"it stays suspended until {who.by_party} resumes it",
                field="status",
            ) from exc
        raise Conflict(
            f"{mechanism.id} is {own.value} for {party}: {exc.message}", field="status"
        ) from exc


_CONTACT_KIND = {
    "call": ContactKind.CALL,
    "video": ContactKind.VIDEO,
    "meeting": ContactKind.MEETING,
}


_STARTS: dict[tuple[int, int], tuple[object, object, Directory, tuple[Mechanism, ...]]] = {}


def _start(
    catalogue: PublicHistory, history: PublicHistory | None
) -> tuple[Directory, tuple[Mechanism, ...]]:
    """The directory and mechanisms every fold over ``catalogue`` and ``history``
    starts from, built (and validated) once per pair: a fold of one thread must
    not cost a validation of every office."""
    key = (id(catalogue), id(history))
    hit = _STARTS.get(key)
    if hit is not None and hit[0] is catalogue and hit[1] is history:
        return hit[2], hit[3]
    base = catalogue.directory
    directory = Directory(
        parties=base.parties,
        offices=base.offices,
        holdings=base.holdings,
        declarations=history.directory.declarations if history is not None else (),
    )
    mechanisms = with_hotlines(catalogue.mechanisms, directory)
    if len(_STARTS) >= 16:
        _STARTS.clear()
    _STARTS[key] = (catalogue, history, directory, mechanisms)
    return directory, mechanisms


def fold(
    statements: Iterable[Statement],
    *,
    catalogue: PublicHistory,
    history: PublicHistory | None,
    now: datetime,
) -> Record:
    """Fold hotline statements into a :class:`Record` as of ``now``.

    ``catalogue`` gives the offices, holders and mechanisms each party starts
    from (signed ``directory`` statements replace a party's part);
    ``history``, when loaded, adds the public record's declarations and
    mechanism events, marked ``public-record``. Statements of other kinds
    are ignored; one that breaks a rule is listed in ``refused``.

    Raises nothing for bad statements (they are refused, not raised).
    """
    directory, mechanisms = _start(catalogue, history)
    record = Record(
        as_of=now,
        directory=directory,
        mechanisms=mechanisms,
        mechanism_events=list(history.mechanism_events) if history is not None else [],
        history=history,
    )
    folder = _Folder(record, history)
    for st in _order(statements):
        record.statements.append(st)
        folder.apply(st)
    for req in record.requests.values():
        try:
            outcome = request_outcome(req, record.request_events(req.id), max(now, req.proposed_at))
        except RedlineError:
            continue
        if outcome.state is RequestState.ACCEPTED and outcome.window is not None:
            if outcome.window.start <= now:
                record.contacts.append(
                    Contact(
                        id=req.id,
                        on=outcome.window.start.date(),
                        office_ids=(req.from_office, req.to_office),
                        kind=_CONTACT_KIND[req.mode.value],
                        mechanism=req.mechanism,
                    )
                )
    return record
