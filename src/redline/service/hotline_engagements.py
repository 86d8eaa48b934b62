"""Engagements: requests for talks and their answers, calls, readouts and joint
summaries, and recording what is due (a lapse, a missed call).

Each act is checked against the one thread it concerns, folded in the
transaction that signs it (:class:`~redline.service.hotline_base.HotlineBase`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from redline.core.errors import Conflict, InvalidInput, InvalidStatement, NotFound, RedlineError
from redline.core.fields import ActedBy
from redline.core.hotline import kinds as k
from redline.core.hotline.bodies import (
    CallBody,
    CallEventBody,
    CallMessageBody,
    CallMissedBody,
    JointSummarySignBody,
    ReadoutBody,
    RequestBody,
    RequestLapsedBody,
    ResponseBody,
)
from redline.core.hotline.calls import DEFAULT_RING_TIMEOUT, call_view
from redline.core.hotline.checks import check_due
from redline.core.hotline.lifecycle import CallAction, CallState, RequestAction, RequestState
from redline.core.hotline.record import Record
from redline.core.hotline.requests import (
    Counter,
    Response,
    Window,
    counter_request,
    due,
    propose,
    request_outcome,
)
from redline.core.hotline.threads import ItemKind, item_name
from redline.core.statement import Statement, format_time
from redline.service.hotline_base import (
    HotlineBase,
    _new_id,
    _window_json,
    build,
    log,
)

__all__ = ["Engagements"]


class Engagements(HotlineBase):
    """The engagement acts of the hotline service (see :class:`HotlineService`)."""

    # -- engagement requests -----------------------------------------------------------

    def request(
        self,
        *,
        from_office: str,
        to_office: str,
        mechanism: str,
        mode: str,
        windows: Sequence[Window],
        deadline: datetime | None = None,
        agenda: Sequence[str] = (),
        notes: Sequence[str] = (),
        by: ActedBy | None = None,
    ) -> Statement:
        """Ask an office of the other party for a call, video conference or meeting.

        Without ``deadline`` the mechanism's response window applies.

        Raises:
            InvalidInput: an unknown office or mechanism, an office on the wrong
                side, no window or one in the past, a deadline not in the future.
            NotFound: no pinned peer.
        """
        now = self.now()
        with self.node.store.read() as conn:
            rec = self._fold(conn, now)
        self._own_office(rec, from_office, "from_office")
        to = self._peer_office(rec, to_office, "to_office").party
        if deadline is None:
            mech = next((m for m in rec.mechanisms if m.id == mechanism), None)
            if mech is not None and mech.response_window is not None:
                deadline = now + mech.response_window
        request_id = _new_id(f"{self.party}-req")

        def check(rec: Record, at: datetime) -> None:
            self._own_office(rec, from_office, "from_office")
            self._peer_office(rec, to_office, "to_office")
            propose(
                id=request_id,
                from_office=from_office,
                to_office=to_office,
                mechanism=mechanism,
                mode=mode,
                windows=windows,
                now=at,
                directory=rec.directory,
                mechanisms=rec.mechanisms,
                deadline=deadline,
                agenda=agenda,
                notes=notes,
            )

        if deadline is None:
            # propose() names the missing deadline (no default for this mechanism).
            check(rec, now)
        assert deadline is not None
        body = build(
            RequestBody,
            id=request_id,
            from_office=from_office,
            to_office=to_office,
            mechanism=mechanism,
            mode=mode,
            windows=[_window_json(w) for w in windows],
            deadline=format_time(deadline),
            agenda=list(agenda),
            notes=list(notes),
            by=by,
        )
        return self._send(to, k.REQUEST, body, check)

    def respond(
        self,
        request_id: str,
        *,
        accept: Window | None = None,
        decline: str | None = None,
        counter_office: str | None = None,
        counter_windows: Sequence[Window] = (),
        counter_deadline: datetime | None = None,
        note: str = "",
        by: ActedBy | None = None,
    ) -> Statement:
        """Accept (choosing a proposed window), decline (with a reason) or counter a request.

        Raises:
            InvalidInput: not exactly one of accept/decline/counter; a window
                that was not proposed; a bad counter-proposal.
            NotFound: no such request.
            Conflict: the request is already answered, withdrawn or lapsed, or
                this party was not asked.
        """
        chosen = [x is not None for x in (accept, decline, counter_office)]
        if sum(chosen) != 1:
            raise InvalidInput("give exactly one of accept, decline or counter", field="action")
        fields: dict[str, Any] = {"request": request_id}
        counter: Counter | None = None
        if accept is not None:
            fields |= {"action": RequestAction.ACCEPT, "window": _window_json(accept)}
        elif decline is not None:
            fields |= {"action": RequestAction.DECLINE, "reason": decline}
        else:
            assert counter_office is not None
            if not counter_windows:
                raise InvalidInput("a counter proposes at least one window", field="windows")
            deadline = counter_deadline or self.now() + timedelta(hours=48)
            counter = Counter(
                new_request_id=_new_id(f"{self.party}-req"),
                offered_office=counter_office,
                windows=tuple(counter_windows),
                deadline=deadline,
                note=note,
            )
            c: dict[str, Any] = {
                "id": counter.new_request_id,
                "offered_office": counter_office,
                "windows": [_window_json(w) for w in counter_windows],
                "deadline": format_time(deadline),
            }
            if note:
                c["note"] = note
            fields |= {"action": RequestAction.COUNTER, "counter": c}
        body = build(ResponseBody, **fields, by=by)

        def check(rec: Record, at: datetime) -> None:
            req = rec.requests.get(request_id)
            if req is not None and req.to_party != self.party:
                raise Conflict(
                    f"{self.party} was not asked: only {req.to_party} can respond to {request_id}",
                    field="request_id",
                )
            req = self._pending_request(rec, request_id, at)
            resp = Response(
                request_id=request_id,
                action=body.action,
                by_party=self.party,
                at=at,
                window=accept,
                reason=decline or "",
                counter=counter,
            )
            request_outcome(req, rec.request_events(req.id) + [resp], at)
            if counter is not None:
                counter_request(req, resp, directory=rec.directory)

        names = [item_name(ItemKind.REQUEST, request_id)]
        if counter is not None:
            names.append(item_name(ItemKind.REQUEST, counter.new_request_id))
        return self._send(self._request_party(request_id), k.RESPONSE, body, check, names)

    def withdraw(
        self, request_id: str, *, reason: str = "", by: ActedBy | None = None
    ) -> Statement:
        """Withdraw one of this party's open requests.

        Raises:
            NotFound: no such request.
            Conflict: not this party's request, or no longer open.
        """

        def check(rec: Record, at: datetime) -> None:
            req = self._pending_request(rec, request_id, at)
            if req.from_party != self.party:
                raise Conflict(
                    f"only {req.from_party} can withdraw {request_id}", field="request_id"
                )

        optional = {"reason": reason} if reason else {}
        body = build(
            ResponseBody, request=request_id, action=RequestAction.WITHDRAW, **optional, by=by
        )
        names = [item_name(ItemKind.REQUEST, request_id)]
        return self._send(self._request_party(request_id), k.RESPONSE, body, check, names)

    # -- calls -------------------------------------------------------------------------

    def place_call(
        self,
        *,
        from_office: str,
        to_office: str,
        mechanism: str,
        mode: str = "call",
        purpose: str = "",
        ring_timeout: int = int(DEFAULT_RING_TIMEOUT.total_seconds()),
        by: ActedBy | None = None,
    ) -> Statement:
        """Ring an office of the other party over ``mechanism``.

        Raises:
            InvalidInput: an unknown office or mechanism, a bad mode or timeout.
            NotFound: no pinned peer.
        """
        call_id = _new_id(f"{self.party}-call")
        optional = {"purpose": purpose} if purpose else {}
        body = build(
            CallBody,
            id=call_id,
            from_office=from_office,
            to_office=to_office,
            mechanism=mechanism,
            mode=mode,
            ring_timeout=ring_timeout,
            **optional,
            by=by,
        )

        def check(rec: Record, _at: datetime) -> None:
            self._own_office(rec, from_office, "from_office")
            self._peer_office(rec, to_office, "to_office")
            if mechanism not in {m.id for m in rec.mechanisms}:
                raise InvalidInput(f"unknown mechanism {mechanism!r}", field="mechanism")

        with self.node.store.read() as conn:
            to = self._peer_office(self._fold(conn, self.now()), to_office, "to_office").party
        names = [item_name(ItemKind.CALL, call_id)]
        return self._send(to, k.CALL, body, check, names)

    def _call_state(self, rec: Record, call_id: str, at: datetime) -> tuple[Any, CallState]:
        call = rec.calls.get(call_id)
        if call is None:
            raise NotFound(f"no call {call_id!r}", field="call_id")
        view = call_view(
            call,
            rec.call_events_of(call_id),
            max(at, call.placed_at),
            ring_timeout=rec.ring_timeouts[call_id],
        )
        return call, view.state

    def call_event(
        self, call_id: str, action: str, *, reason: str = "", by: ActedBy | None = None
    ) -> Statement:
        """Answer, decline or end a call.

        Raises:
            InvalidInput: unknown action.
            NotFound: no such call.
            Conflict: the call is not in a state that allows it, or this party
                may not do it (only the called party answers or declines).
        """
        optional = {"reason": reason} if reason else {}
        body = build(CallEventBody, call=call_id, action=action, **optional, by=by)
        act = body.action

        def check(rec: Record, at: datetime) -> None:
            call, state = self._call_state(rec, call_id, at)
            if act is not CallAction.END and call.to_party != self.party:
                raise Conflict(f"only {call.to_party} can {act} {call_id}", field="call_id")
            wanted = CallState.ANSWERED if act is CallAction.END else CallState.RINGING
            if state is not wanted:
                raise Conflict(f"call {call_id} is {state.value}; cannot {act}", field="call_id")

        names = [item_name(ItemKind.CALL, call_id)]
        return self._send(self._call_party(call_id), k.CALL_EVENT, body, check, names)

    def say(
        self, call_id: str, text: str, *, lang: str = "en", by: ActedBy | None = None
    ) -> Statement:
        """Say ``text`` on an answered call.

        Raises:
            NotFound: no such call.
            Conflict: the call is not open (not answered, or over).
            InvalidInput: blank text or a bad language tag.
        """

        def check(rec: Record, at: datetime) -> None:
            _call, state = self._call_state(rec, call_id, at)
            if state is not CallState.ANSWERED:
                raise Conflict(f"call {call_id} is {state.value}, not open", field="call_id")

        body = build(CallMessageBody, call=call_id, text=text, lang=lang, by=by)
        names = [item_name(ItemKind.CALL, call_id)]
        return self._send(self._call_party(call_id), k.CALL_MESSAGE, body, check, names)

    # -- readouts ------------------------------------------------------------------------

    def file_readout(
        self, engagement: str, text: str, *, lang: str = "en", by: ActedBy | None = None
    ) -> Statement:
        """File this party's own readout of an engagement (request, call or public-record
        contact id); it goes to the other party to the engagement.

        Raises:
            InvalidInput: a bad id, blank text.
            NotFound: no such engagement.
            Conflict: this party is not a party to it.
        """
        body = build(
            ReadoutBody,
            id=_new_id(f"{self.party}-readout"),
            engagement=engagement,
            text=text,
            lang=lang,
            by=by,
        )
        return self._send_about(engagement, k.READOUT, body)

    def _send_about(self, engagement: str, kind: str, body: ReadoutBody) -> Statement:
        names = [item_name(ItemKind.REQUEST, engagement), item_name(ItemKind.CALL, engagement)]
        to = self._engagement_party(self._read(names), engagement)

        def check(rec: Record, _at: datetime) -> None:
            self._engagement_party(rec, engagement)

        return self._send(to, kind, body, check, names)

    def propose_joint_summary(
        self, engagement: str, text: str, *, lang: str = "en", by: ActedBy | None = None
    ) -> Statement:
        """Propose a joint summary to the other party to ``engagement``; it counts
        once that party signs it.

        Raises:
            InvalidInput: a bad id, blank text.
            NotFound: no such engagement.
            Conflict: this party is not a party to it.
        """
        body = build(
            ReadoutBody,
            id=_new_id(f"{self.party}-joint"),
            engagement=engagement,
            text=text,
            lang=lang,
            by=by,
        )
        return self._send_about(engagement, k.JOINT_SUMMARY, body)

    def sign_joint_summary(self, summary_id: str, *, by: ActedBy | None = None) -> Statement:
        """Co-sign the other party's joint summary.

        Raises:
            NotFound: no such summary.
            Conflict: this party proposed it or signed it already.
        """
        names = [item_name(ItemKind.SUMMARY, summary_id)]
        summary = self._read(names).summaries.get(summary_id)
        if summary is None:
            raise NotFound(f"no joint summary {summary_id!r}", field="summary_id")
        if self.party in summary.signed_by:
            raise Conflict(f"{self.party} has signed {summary_id} already", field="summary_id")

        def check(rec: Record, _at: datetime) -> None:
            s = rec.summaries.get(summary_id)
            if s is None:
                raise NotFound(f"no joint summary {summary_id!r}", field="summary_id")
            if self.party in s.signed_by:
                raise Conflict(f"{self.party} has signed {summary_id} already", field="summary_id")

        body = build(
            JointSummarySignBody,
            summary=summary_id,
            sha256=hashlib.sha256(summary.text.encode()).hexdigest(),
            by=by,
        )
        return self._send(summary.proposer, k.JOINT_SUMMARY_SIGN, body, check, names)

    # -- what is due -----------------------------------------------------------------------

    def record_due(self, now: datetime | None = None) -> list[Statement]:
        """Record "no response" for this party's requests past their deadline, and
        missed calls past their ring timeout; return the statements sent.

        Raises:
            NotFound: no pinned peer (only when something is due).
        """
        now = now or self.now()
        with self.node.store.read() as conn:
            threads = self.state.due_threads(conn, now, party=self.party)
            if not threads:
                return []  # the ticker's usual case: one indexed query
            rec = self._fold(conn, now, threads=threads)
        out: list[Statement] = []
        mine = [r for r in rec.requests.values() if r.from_party == self.party]
        for item in due(mine, rec.responses, now):
            if item.state is not RequestState.LAPSED or item.request_id in rec.lapse_records:
                continue
            req = rec.requests[item.request_id]

            body = build(RequestLapsedBody, request=req.id, deadline=format_time(req.deadline))

            def lapse_check(
                r: Record, at: datetime, rid: str = req.id, body: RequestLapsedBody = body
            ) -> None:
                if rid in r.lapse_records:
                    raise Conflict(f"{rid} is recorded as lapsed already", field="request_id")
                self._check_due(r, body, at, "request_id")

            names = [item_name(ItemKind.REQUEST, req.id)]
            out.append(self._send(req.to_party, k.REQUEST_LAPSED, body, lapse_check, names))
        for call in rec.calls.values():
            if call.from_party != self.party or call.id in rec.missed_records:
                continue
            _c, state = self._call_state(rec, call.id, now)
            if state is not CallState.MISSED:
                continue

            missed = build(CallMissedBody, call=call.id)

            def missed_check(
                r: Record, at: datetime, cid: str = call.id, body: CallMissedBody = missed
            ) -> None:
                if cid in r.missed_records:
                    raise Conflict(f"{cid} is recorded as missed already", field="call_id")
                self._check_due(r, body, at, "call_id")

            names = [item_name(ItemKind.CALL, call.id)]
            out.append(self._send(call.to_party, k.CALL_MISSED, missed, missed_check, names))
        return out

    def _check_due(
        self, rec: Record, body: RequestLapsedBody | CallMissedBody, at: datetime, field: str
    ) -> None:
        # What the peer would refuse (or fold as refused) is not signed: e.g.
        # ``record_due(now)`` with ``now`` ahead of the clock the statement carries.
        try:
            check_due(rec, sender=self.party, body=body, at=at)
        except (InvalidStatement, Conflict) as exc:
            raise Conflict(f"not due at {format_time(at)}: {exc.message}", field=field) from exc

    def record_due_quietly(self) -> None:
        """:meth:`record_due`, logging instead of raising (for the ticker). Raises nothing."""
        try:
            self.record_due()
        except Conflict:
            pass  # another process recorded it first
        except RedlineError as exc:
            log.warning("could not record what is due: %s", exc)
