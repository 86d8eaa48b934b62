"""What a node refuses on receipt, and what its own ticker may sign as due.

A statement from a peer is refused (422, nothing stored) when it breaks a rule
that does not depend on arrival order; crossing acts are left to the fold
(:mod:`redline.core.hotline.fold`, whose module docstring says which is
which). :class:`IncomingCheck` checks a whole batch against one fold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from redline.core.errors import InvalidStatement, RedlineError
from redline.core.hotline import kinds as k
from redline.core.hotline.bodies import (
    CallEventBody,
    CallMissedBody,
    CounterpartBody,
    ReadoutBody,
    RequestLapsedBody,
    ResponseBody,
)
from redline.core.hotline.fold import _Folder, fold
from redline.core.hotline.history import PublicHistory
from redline.core.hotline.lifecycle import CallAction, RequestAction
from redline.core.hotline.record import (
    Record,
)
from redline.core.statement import Statement

__all__ = ["IncomingCheck", "check_due", "check_incoming"]


def check_incoming(
    statement: Statement,
    *,
    held: Sequence[Statement],
    catalogue: PublicHistory,
    history: PublicHistory | None,
    acknowledged: Mapping[str, datetime] | None = None,
    horizon: timedelta = k.DEFAULT_HORIZON,
) -> None:
    """Refuse ``statement`` from the peer if it breaks an order-independent rule.

    ``held`` is every hotline statement the receiver holds (and those earlier
    in the same batch). ``acknowledged`` maps the id of each of the receiver's
    statements the sender has signed a receipt for to that receipt's time: a
    ``request-lapsed`` or ``call-missed`` signed after the sender received
    the answer is refused here; one that crossed the answer is folded as
    refused. See the module docstring for which rules are checked here and
    which are left to the fold. No time in the body may lie more than
    ``horizon`` after the statement's signed time (:func:`kinds.check_horizon`).

    Raises:
        InvalidStatement: naming ``body.<field>``.
    """
    if statement.kind not in k.HOTLINE_KINDS:
        return
    # Fold as of the latest time anything held carries: the receiver's own acts
    # may be signed after the incoming one (they crossed on the wire).
    as_of = max([statement.sent_at, *(s.sent_at for s in held)])
    IncomingCheck(
        held,
        catalogue=catalogue,
        history=history,
        acknowledged=acknowledged,
        as_of=as_of,
        horizon=horizon,
    ).check(statement)


class IncomingCheck:
    """:func:`check_incoming` for a batch: ``held`` is folded once, as of
    ``as_of``, and each statement checked is then applied on top of it, so a
    batch of many statements into one long thread costs one fold, not one per
    statement. ``absorb`` applies a statement checked elsewhere (a global
    statement earlier in the batch) without checking it.
    """

    def __init__(
        self,
        held: Sequence[Statement],
        *,
        catalogue: PublicHistory,
        history: PublicHistory | None,
        acknowledged: Mapping[str, datetime] | None,
        as_of: datetime,
        horizon: timedelta = k.DEFAULT_HORIZON,
    ) -> None:
        self.record = fold(held, catalogue=catalogue, history=history, now=as_of)
        self.history = history
        self.acknowledged = acknowledged
        self.horizon = horizon

    def check(self, statement: Statement) -> None:
        """Refuse ``statement`` if it breaks an order-independent rule against what
        is held and what this check took in before; else take it in.

        Raises:
            InvalidStatement: naming ``body.<field>``.
        """
        if statement.kind not in k.HOTLINE_KINDS:
            return
        k.check_horizon(
            statement.kind, statement.body, signed_at=statement.sent_at, horizon=self.horizon
        )
        try:
            _check_sides(statement, self.record)
            self.record.statements.append(statement)
            _Folder(self.record, self.history, self.acknowledged).apply(statement, strict=True)
        except InvalidStatement:
            raise
        except RedlineError as exc:
            raise InvalidStatement(exc.message, field=_body_field(exc)) from exc

    def absorb(self, statement: Statement) -> None:
        """Take in ``statement`` as the fold would (an illegal step is refused, not
        raised). Raises nothing."""
        self.record.statements.append(statement)
        _Folder(self.record, self.history, self.acknowledged).apply(statement)


def _check_sides(st: Statement, record: Record) -> None:
    """Rules that do not depend on which of two crossing acts came first."""
    b = st.model
    if isinstance(b, ResponseBody):
        req = record.requests.get(b.request)
        if req is None:
            if record.made_without_effect(b.request):
                return  # made by a counter that crossed a withdrawal: the fold refuses it
            raise InvalidStatement(f"no request {b.request!r} was made", field="body.request")
        if b.action is RequestAction.WITHDRAW:
            if req.from_party != st.sender:
                raise InvalidStatement(
                    f"only {req.from_party} can withdraw {req.id}", field="body.request"
                )
        else:
            if req.to_party != st.sender:
                raise InvalidStatement(
                    f"{st.sender} was not asked: only {req.to_party} can respond to {req.id}",
                    field="body.request",
                )
            if st.sent_at >= req.deadline:
                raise InvalidStatement(
                    f"request {req.id} lapsed at its deadline; a response signed after it "
                    "does not count",
                    field="body.request",
                )
    elif isinstance(b, CallEventBody) and b.action in (CallAction.ANSWER, CallAction.DECLINE):
        call = record.calls.get(b.call)
        if call is None:
            raise InvalidStatement(f"no call {b.call!r}", field="body.call")
        if call.to_party != st.sender:
            raise InvalidStatement(f"only {call.to_party} can {b.action}", field="body.call")
        if st.sent_at >= call.placed_at + record.ring_timeouts[call.id]:
            raise InvalidStatement(f"call {call.id} was missed: it rang out", field="body.call")
    elif isinstance(b, ReadoutBody):
        _check_engagement(st, record)
    elif isinstance(b, CounterpartBody):
        own = next((o for o in record.directory.offices if o.id == b.own_office), None)
        if own is None or own.party != st.sender:
            raise InvalidStatement(
                f"{b.own_office} is not an office of {st.sender}", field="body.own_office"
            )


def _check_engagement(st: Statement, record: Record) -> None:
    """A readout or joint summary is about an engagement its sender was party to."""
    ident = st.typed(ReadoutBody).engagement
    found = record.requests.get(ident) or record.calls.get(ident)
    if found is not None:
        parties = {found.from_party, found.to_party}
    else:
        history = record.history
        contact = next((c for c in history.contacts if c.id == ident), None) if history else None
        if contact is None:
            if record.made_without_effect(ident):
                return  # a counter that crossed a withdrawal made it: the sender held it
            raise InvalidStatement(f"no engagement {ident!r}", field="body.engagement")
        parties = {record.directory.office(o).party for o in contact.office_ids}
    if st.sender not in parties or st.to not in parties:
        raise InvalidStatement(
            f"{ident} is an engagement of {' and '.join(sorted(parties))}",
            field="body.engagement",
        )


def check_due(
    record: Record, *, sender: str, body: RequestLapsedBody | CallMissedBody, at: datetime
) -> None:
    """Check that a ``request-lapsed`` or ``call-missed`` by ``sender`` with
    ``body``, signed at ``at``, would be taken as true by the fold.

    Raises:
        InvalidStatement: it would be refused (see ``_Folder.lapsed_request``).
        Conflict: the request or call was answered.
    """
    folder = _Folder(record, record.history)
    if isinstance(body, RequestLapsedBody):
        folder.lapsed_request(sender, body, at)
    else:
        folder.missed_call(sender, body, at)


def _body_field(exc: RedlineError) -> str:
    f = exc.field or "body"
    return f if f.startswith("body") else f"body.{f}"
