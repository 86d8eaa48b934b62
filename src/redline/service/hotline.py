"""The hotline's use cases: directory, requests, calls, mechanisms, readouts, board.

Every act is a signed statement sent, through :meth:`NodeService.send`, to
the party it concerns (the other side of the request, call or summary; the
owner of the counterpart office; every peer for a directory), so it is in
the node's log and delivered with receipts. Each act is checked inside the
transaction that signs it, against the state of the threads it concerns
(:class:`~redline.service.hotline_state.HotlineState`) at the very time the
statement will carry; on any error nothing is stored.

Statements from peers are checked on receipt
(:func:`redline.core.hotline.record.check_incoming`, registered as one of the
node's ``receive_checks``); see that module for which rules are refused on
receipt (422, nothing stored) and which are folded as refused events.

The public history is shown only when it is loaded into the node directory
(``DIR/public-history.json``, written by ``redline history load`` and by
``redline demo``), always marked ``public-record``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import shutil
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from redline.core.errors import Conflict, InvalidInput, InvalidStatement, NotFound, RedlineError
from redline.core.hotline import kinds as k
from redline.core.hotline._checks import check_enum
from redline.core.hotline.calls import DEFAULT_RING_TIMEOUT, call_view
from redline.core.hotline.directory import Directory, Holding, Level, Office, Party
from redline.core.hotline.history import PublicHistory, parse_history
from redline.core.hotline.lifecycle import MECHANISM, CallState, RequestState, transition
from redline.core.hotline.record import Record, check_due, directory_body, mechanism_state
from redline.core.hotline.requests import (
    Counter,
    Response,
    Window,
    counter_request,
    propose,
    request_outcome,
)
from redline.core.hotline.threads import ItemKind, item_name
from redline.core.kinds import validate_body
from redline.core.statement import Statement, format_time, parse_time
from redline.service.hotline_state import HotlineState, catalogue
from redline.service.hotline_views import (
    add_tallies,
    board_for_peer,
    board_view,
    calendar_ics,
    directory_view,
    timeline_for_peer,
    timeline_view,
)
from redline.service.node import NodeService

__all__ = [
    "HISTORY_FILE",
    "DueTicker",
    "HotlineService",
    "load_history_into",
    "parse_day",
    "parse_when",
    "parse_window",
]

log = logging.getLogger("redline.hotline")

#: How many recently acted-on requests, calls, readouts and refused statements
#: the board shows besides everything open (the timeline shows all).
BOARD_RECENT = 20

#: Where a node keeps its copy of the public history (``redline history load``).
HISTORY_FILE = "public-history.json"


def load_history_into(node_path: Path) -> Path:
    """Copy the packaged public history into the node directory; return its path.

    Raises:
        InvalidInput: ``node_path`` is not a directory.
    """
    if not node_path.is_dir():
        raise InvalidInput(f"{node_path} is not a node directory", field="dir")
    target = node_path / HISTORY_FILE
    source = resources.files("redline").joinpath("data").joinpath("history.json")
    with resources.as_file(source) as path:
        shutil.copyfile(path, target)
    return target


def parse_when(text: str, field: str) -> datetime:
    """Parse an ISO 8601 / RFC 3339 time with a zone (``Z`` or ``+08:00``) to UTC.

    Raises:
        InvalidInput: not such a time, or no zone given.
    """
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise InvalidInput(
            f"{text!r} is not a time such as 2026-11-22T09:00Z", field=field
        ) from exc
    if moment.tzinfo is None:
        raise InvalidInput(f"{text!r} has no time zone; add Z or +08:00", field=field)
    # Round to whole microseconds in UTC, the statement time format.
    return datetime.fromisoformat(format_time(moment).replace("Z", "+00:00"))


def parse_day(text: str, field: str) -> date:
    """Parse a day ``YYYY-MM-DD``.

    Raises:
        InvalidInput: not such a day.
    """
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise InvalidInput(f"{text!r} is not a day such as 2026-11-22", field=field) from exc


def parse_window(text: str, field: str) -> Window:
    """Parse ``START/END`` into a :class:`Window`.

    Raises:
        InvalidInput: not two times separated by ``/``, or end not after start.
    """
    start, sep, end = text.partition("/")
    if not sep:
        raise InvalidInput(f"{text!r} is not START/END", field=field)
    try:
        return Window(start=parse_when(start, field), end=parse_when(end, field))
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field=field) from exc


def _window_json(w: Window) -> dict[str, str]:
    return {"start": format_time(w.start), "end": format_time(w.end)}


def _new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(5)}"


class HotlineService:
    """The hotline over one node's :class:`NodeService`.

    Registers the receipt-time check with ``node`` on construction.
    """

    def __init__(
        self, node: NodeService, *, node_path: Path | None = None, name: str | None = None
    ) -> None:
        self.node = node
        #: The party's name, for a directory this node publishes first.
        self.name = name or node.party
        self.node_path = node_path
        self._history: tuple[float, PublicHistory] | None = None
        self._lock = threading.Lock()
        self.state = HotlineState(history=self.history)
        node.receive_checks.append(self.state.check_incoming)
        node.on_stored.append(self.state.apply)
        with node.store.read() as conn:
            stale = bool(self.state.threads_stale(conn))
        if stale:  # a database the projection's migration indexed: fold it once
            with node.store.write() as conn:
                self.state.refresh_stale(conn)

    @property
    def party(self) -> str:
        """This node's party id. Raises nothing."""
        return self.node.party

    def now(self) -> datetime:
        """The node's clock. Raises nothing."""
        return self.node.clock()

    # -- reading the record ---------------------------------------------------------

    def history(self) -> PublicHistory | None:
        """The public history loaded into this node, or None.

        Raises:
            InvalidInput: the loaded file is not a valid history.
        """
        if self.node_path is None:
            return None
        path = self.node_path / HISTORY_FILE
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            return None
        with self._lock:
            if self._history is None or self._history[0] != mtime:
                try:
                    doc = json.loads(path.read_text("utf-8"))
                except ValueError as exc:
                    raise InvalidInput(f"{path} is not JSON: {exc}", field="history") from exc
                self._history = (mtime, parse_history(doc))
            return self._history[1]

    def _fold(
        self,
        conn: Connection,
        now: datetime,
        names: Sequence[str] = (),
        threads: Sequence[str] = (),
    ) -> Record:
        return self.state.fold(conn, now, names=names, threads=threads)

    def record(self, now: datetime | None = None) -> Record:
        """The reference fold of every hotline statement held, as of ``now`` (default:
        the clock). The timeline reads it; acts and the board read the projection.
        Raises nothing new."""
        with self.node.store.read() as conn:
            return self.state.full(conn, now or self.now())

    # -- sending, checked in the transaction -------------------------------------------

    def _send(
        self,
        to: str,
        kind: str,
        body: dict[str, Any],
        check: Callable[[Record, datetime], None],
        names: Sequence[str] = (),
    ) -> Statement:
        """Sign ``body`` to ``to`` once ``check`` passes against the threads ``names``
        belong to, folded in the signing transaction."""

        def in_transaction(conn: Connection, at: datetime) -> None:
            check(self._fold(conn, at, names), at)

        return self.node.send(to=to, kind=kind, body=body, check=in_transaction)

    def _office(self, rec: Record, office_id: str, field: str) -> Any:
        for o in rec.directory.offices:
            if o.id == office_id:
                return o
        raise InvalidInput(f"unknown office {office_id!r}", field=field)

    def _own_office(self, rec: Record, office_id: str, field: str) -> Any:
        office = self._office(rec, office_id, field)
        if office.party != self.party:
            raise InvalidInput(f"{office_id} is not an office of {self.party}", field=field)
        return office

    def _peer_office(self, rec: Record, office_id: str, field: str) -> Any:
        office = self._office(rec, office_id, field)
        if office.party == self.party:
            raise InvalidInput(
                f"{office_id} is an office of {self.party}; ask the other party", field=field
            )
        return office

    def _peer_parties(self) -> list[str]:
        peers = [p.party for p in self.node.peers()]
        if not peers:
            raise NotFound("no pinned peer; pin one with `redline peer add`", field="to")
        return peers

    def _other(self, sides: tuple[str, str], what: str, field: str) -> str:
        """The party on the other side of ``sides`` from this one."""
        a, b = sides
        if self.party not in sides:
            raise Conflict(f"{self.party} is not a party to {what}", field=field)
        return b if a == self.party else a

    def _engagement_party(self, rec: Record, engagement: str) -> str:
        """The other party to a request, call or public-record contact ``engagement``."""
        req = rec.requests.get(engagement)
        if req is not None:
            return self._other((req.from_party, req.to_party), engagement, "engagement")
        call = rec.calls.get(engagement)
        if call is not None:
            return self._other((call.from_party, call.to_party), engagement, "engagement")
        history = rec.history
        for contact in history.contacts if history is not None else ():
            if contact.id == engagement:
                parties = {rec.directory.office(o).party for o in contact.office_ids}
                others = sorted(parties - {self.party})
                if self.party in parties and others:
                    return others[0]
                raise Conflict(f"{self.party} is not a party to {engagement}", field="engagement")
        raise NotFound(f"no engagement {engagement!r} (a request or a call)", field="engagement")

    def _read(self, names: Sequence[str]) -> Record:
        """The record of the threads ``names`` belong to, as of the clock."""
        with self.node.store.read() as conn:
            return self._fold(conn, self.now(), names)

    def _request_party(self, request_id: str) -> str:
        """The other party to request ``request_id``."""
        rec = self._read([item_name(ItemKind.REQUEST, request_id)])
        req = rec.requests.get(request_id)
        if req is None:
            self._pending_request(rec, request_id, self.now())  # names the error
            raise NotFound(f"no request {request_id!r}", field="request_id")
        return self._other((req.from_party, req.to_party), request_id, "request_id")

    def _call_party(self, call_id: str) -> str:
        """The other party to call ``call_id``."""
        rec = self._read([item_name(ItemKind.CALL, call_id)])
        call = rec.calls.get(call_id)
        if call is None:
            raise NotFound(f"no call {call_id!r}", field="call_id")
        return self._other((call.from_party, call.to_party), call_id, "call_id")

    # -- directory ----------------------------------------------------------------

    def _globals(self, now: datetime | None = None) -> Record:
        with self.node.store.read() as conn:
            return self._fold(conn, now or self.now())

    def _published(self, peer: str) -> set[tuple[str, str]]:
        with self.node.store.read() as conn:
            return {
                (s.kind, json.dumps(s.body, sort_keys=True))
                for s in self.state.held(conn)
                if s.sender == self.party and s.to == peer
            }

    def publish_directory(self) -> list[Statement]:
        """Publish this party's offices, holders and counterpart declarations to every
        pinned peer that does not hold them yet; return the statements sent.

        The directory published is the one this node holds for its own party: the
        packaged catalogue's, as amended by :meth:`add_office` and :meth:`set_holder`.
        A party with no office publishes nothing.

        Raises:
            NotFound: no pinned peer.
        """
        rec = self._globals()
        out = []
        for peer in self._peer_parties():
            bodies: list[tuple[str, dict[str, Any]]] = []
            if any(o.party == self.party for o in rec.directory.offices):
                bodies.append((k.DIRECTORY, directory_body(rec.directory, self.party)))
            for d in catalogue().directory.declarations:
                theirs = rec.directory.offices
                if d.declaring_party == self.party and any(
                    o.id == d.counterpart_office and o.party == peer for o in theirs
                ):
                    body: dict[str, Any] = {
                        "own_office": d.own_office,
                        "counterpart_office": d.counterpart_office,
                    }
                    if d.note:
                        body["note"] = d.note
                    bodies.append((k.COUNTERPART, body))
            sent = self._published(peer)
            for kind, body in bodies:
                if (kind, json.dumps(body, sort_keys=True)) not in sent:
                    out.append(self.node.send(to=peer, kind=kind, body=body))
        return out

    def _own_directory(self, rec: Record, time_zone: str | None) -> Directory:
        """The directory with this party in it (a party new to the catalogue joins)."""
        directory = rec.directory
        if any(p.id == self.party for p in directory.parties):
            return directory
        party = Party(
            id=self.party,
            name_en=self.name,
            name_zh=self.name,
            time_zone=time_zone or "UTC",
        )
        return replace(directory, parties=(*directory.parties, party))

    def _republish(self, directory: Directory) -> list[Statement]:
        body = directory_body(directory, self.party)
        try:
            validate_body(k.DIRECTORY, body)
        except InvalidStatement as exc:
            raise InvalidInput(exc.message, field=exc.field) from exc
        return [
            self.node.send(to=peer, kind=k.DIRECTORY, body=body) for peer in self._peer_parties()
        ]

    def add_office(
        self,
        office_id: str,
        *,
        level: str,
        title_en: str,
        title_zh: str,
        seats: int = 1,
        time_zone: str | None = None,
    ) -> list[Statement]:
        """Add an office to this party's directory and publish it to every peer.

        ``time_zone`` (IANA) is this party's, used the first time it publishes.

        Raises:
            InvalidInput: a bad id, level, title or time zone; an id already in use.
            NotFound: no pinned peer.
        """
        rec = self._globals()
        if any(o.id == office_id for o in rec.directory.offices):
            raise InvalidInput(f"office {office_id!r} already exists", field="id")
        directory = self._own_directory(rec, time_zone)
        office = Office(
            id=office_id,
            party=self.party,
            title_en=title_en,
            title_zh=title_zh,
            level=check_enum(level, Level, "level"),
            seats=seats,
        )
        return self._republish(replace(directory, offices=(*directory.offices, office)))

    def set_holder(
        self, office_id: str, *, person_en: str, person_zh: str, since: date, note: str = ""
    ) -> list[Statement]:
        """Record that ``person`` holds one of this party's offices from ``since`` (the
        previous holder's term ends that day), and publish it to every peer.

        Raises:
            InvalidInput: not an office of this party; a blank name; ``since`` not
                after the current holder's start.
            NotFound: no pinned peer.
        """
        rec = self._globals()
        self._own_office(rec, office_id, "office")
        directory = rec.directory
        holdings = []
        for h in directory.holdings:
            if h.office_id == office_id and h.end is None:
                if since <= h.start:
                    raise InvalidInput(
                        f"{h.person_en} holds {office_id} from {h.start}; give a later date",
                        field="since",
                    )
                h = replace(h, end=since)
            holdings.append(h)
        holdings.append(
            Holding(
                office_id=office_id,
                person_en=person_en,
                person_zh=person_zh,
                start=since,
                end=None,
                note=note,
            )
        )
        return self._republish(replace(directory, holdings=tuple(holdings)))

    def declare_counterpart(
        self, *, own_office: str, counterpart_office: str, note: str = ""
    ) -> Statement:
        """Declare which office of another party is ``own_office``'s counterpart; the
        declaration goes to that office's party.

        Raises:
            InvalidInput: an unknown office, or one on the wrong side.
            NotFound: that party is not pinned.
        """

        def check(rec: Record, _at: datetime) -> None:
            self._own_office(rec, own_office, "own_office")
            self._peer_office(rec, counterpart_office, "counterpart_office")
            for d in rec.directory.declarations:
                if (d.declaring_party, d.own_office, d.counterpart_office, d.note) == (
                    self.party,
                    own_office,
                    counterpart_office,
                    note,
                ):
                    raise Conflict(
                        f"{own_office}'s counterpart is declared as {counterpart_office} already",
                        field="counterpart_office",
                    )

        to = self._peer_office(self._globals(), counterpart_office, "counterpart_office").party
        body: dict[str, Any] = {"own_office": own_office, "counterpart_office": counterpart_office}
        if note:
            body["note"] = note
        return self._send(to, k.COUNTERPART, body, check)

    # -- mechanisms -----------------------------------------------------------------

    def set_mechanism(
        self, *, mechanism: str, status: str, reason: str, to: str | None = None
    ) -> Statement:
        """Record that this party moves ``mechanism`` to ``status`` (suspended, resumed,
        active), telling ``to``: by default the one other party whose offices the
        mechanism joins.

        Raises:
            InvalidInput: unknown mechanism or status, blank reason, no ``to`` where
                the mechanism does not name exactly one other party.
            Conflict: the move is illegal from the mechanism's current status.
            NotFound: ``to`` is not pinned.
        """
        if status not in ("active", "suspended", "resumed"):
            raise InvalidInput("must be active, suspended or resumed", field="status")
        if not reason.strip():
            raise InvalidInput("say why", field="reason")

        def check(rec: Record, at: datetime) -> None:
            if mechanism not in {m.id for m in rec.mechanisms}:
                raise InvalidInput(f"unknown mechanism {mechanism!r}", field="mechanism")
            state = mechanism_state(rec.mechanism_events, mechanism, at)
            try:
                transition(MECHANISM, state, status)
            except Conflict as exc:
                raise Conflict(f"{mechanism} is {state}: {exc.message}", field="status") from exc

        if to is None:
            rec = self._globals()
            mech = next((m for m in rec.mechanisms if m.id == mechanism), None)
            if mech is None:
                raise InvalidInput(f"unknown mechanism {mechanism!r}", field="mechanism")
            parties = {o.party for o in rec.directory.offices if o.id in mech.offices}
            others = sorted(parties - {self.party})
            if len(others) != 1:
                raise InvalidInput(
                    f"{mechanism} does not name one other party; say which (to)", field="to"
                )
            to = others[0]
        body = {"mechanism": mechanism, "status": status, "reason": reason}
        return self._send(to, k.MECHANISM_STATUS, body, check)

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
        body: dict[str, Any] = {
            "id": request_id,
            "from_office": from_office,
            "to_office": to_office,
            "mechanism": mechanism,
            "mode": mode,
            "windows": [_window_json(w) for w in windows],
            "deadline": format_time(deadline),
            "agenda": list(agenda),
            "notes": list(notes),
        }
        return self._send(to, k.REQUEST, body, check)

    def _pending_request(self, rec: Record, request_id: str, at: datetime) -> Any:
        req = rec.requests.get(request_id)
        if req is None:
            history = rec.history
            if history is not None and f"request:{request_id}" in history.records:
                raise Conflict(
                    f"{request_id} is public record, not a live request", field="request_id"
                )
            raise NotFound(f"no request {request_id!r}", field="request_id")
        outcome = request_outcome(req, rec.request_events(req.id), max(at, req.proposed_at))
        if outcome.state is not RequestState.PROPOSED:
            why = f" ({outcome.reason})" if outcome.reason else ""
            raise Conflict(
                f"request {request_id} is already {outcome.state.value}{why}", field="request_id"
            )
        return req

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
        body: dict[str, Any] = {"request": request_id}
        counter: Counter | None = None
        if accept is not None:
            body |= {"action": "accept", "window": _window_json(accept)}
        elif decline is not None:
            if not decline.strip():
                raise InvalidInput("a decline gives a reason", field="reason")
            body |= {"action": "decline", "reason": decline}
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
            body |= {"action": "counter", "counter": c}

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
                action=body["action"],
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

    def withdraw(self, request_id: str, *, reason: str = "") -> Statement:
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

        body: dict[str, Any] = {"request": request_id, "action": "withdraw"}
        if reason:
            body["reason"] = reason
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
    ) -> Statement:
        """Ring an office of the other party over ``mechanism``.

        Raises:
            InvalidInput: an unknown office or mechanism, a bad mode or timeout.
            NotFound: no pinned peer.
        """
        if not 1 <= ring_timeout <= k.MAX_RING_TIMEOUT:
            raise InvalidInput(f"must be 1 to {k.MAX_RING_TIMEOUT} seconds", field="ring_timeout")
        if mode not in k.CALL_MODES:
            raise InvalidInput("must be call or video", field="mode")
        call_id = _new_id(f"{self.party}-call")

        def check(rec: Record, _at: datetime) -> None:
            self._own_office(rec, from_office, "from_office")
            self._peer_office(rec, to_office, "to_office")
            if mechanism not in {m.id for m in rec.mechanisms}:
                raise InvalidInput(f"unknown mechanism {mechanism!r}", field="mechanism")

        with self.node.store.read() as conn:
            to = self._peer_office(self._fold(conn, self.now()), to_office, "to_office").party
        names = [item_name(ItemKind.CALL, call_id)]
        body: dict[str, Any] = {
            "id": call_id,
            "from_office": from_office,
            "to_office": to_office,
            "mechanism": mechanism,
            "mode": mode,
            "ring_timeout": ring_timeout,
        }
        if purpose:
            body["purpose"] = purpose
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

    def call_event(self, call_id: str, action: str, *, reason: str = "") -> Statement:
        """Answer, decline or end a call.

        Raises:
            InvalidInput: unknown action.
            NotFound: no such call.
            Conflict: the call is not in a state that allows it, or this party
                may not do it (only the called party answers or declines).
        """
        if action not in k.CALL_EVENT_ACTIONS:
            raise InvalidInput("must be answer, decline or end", field="action")

        def check(rec: Record, at: datetime) -> None:
            call, state = self._call_state(rec, call_id, at)
            if action != "end" and call.to_party != self.party:
                raise Conflict(f"only {call.to_party} can {action} {call_id}", field="call_id")
            wanted = CallState.ANSWERED if action == "end" else CallState.RINGING
            if state is not wanted:
                raise Conflict(f"call {call_id} is {state.value}; cannot {action}", field="call_id")

        body: dict[str, Any] = {"call": call_id, "action": action}
        if reason:
            body["reason"] = reason
        names = [item_name(ItemKind.CALL, call_id)]
        return self._send(self._call_party(call_id), k.CALL_EVENT, body, check, names)

    def say(self, call_id: str, text: str, *, lang: str = "en") -> Statement:
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

        body = {"call": call_id, "text": text, "lang": lang}
        names = [item_name(ItemKind.CALL, call_id)]
        return self._send(self._call_party(call_id), k.CALL_MESSAGE, body, check, names)

    # -- readouts ------------------------------------------------------------------------

    def file_readout(self, engagement: str, text: str, *, lang: str = "en") -> Statement:
        """File this party's own readout of an engagement (request, call or public-record
        contact id); it goes to the other party to the engagement.

        Raises:
            InvalidInput: a bad id, blank text.
            NotFound: no such engagement.
            Conflict: this party is not a party to it.
        """
        body = {
            "id": _new_id(f"{self.party}-readout"),
            "engagement": engagement,
            "text": text,
            "lang": lang,
        }
        return self._send_about(engagement, k.READOUT, body)

    def _send_about(self, engagement: str, kind: str, body: dict[str, Any]) -> Statement:
        names = [item_name(ItemKind.REQUEST, engagement), item_name(ItemKind.CALL, engagement)]
        to = self._engagement_party(self._read(names), engagement)

        def check(rec: Record, _at: datetime) -> None:
            self._engagement_party(rec, engagement)

        return self._send(to, kind, body, check, names)

    def propose_joint_summary(self, engagement: str, text: str, *, lang: str = "en") -> Statement:
        """Propose a joint summary to the other party to ``engagement``; it counts
        once that party signs it.

        Raises:
            InvalidInput: a bad id, blank text.
            NotFound: no such engagement.
            Conflict: this party is not a party to it.
        """
        body = {
            "id": _new_id(f"{self.party}-joint"),
            "engagement": engagement,
            "text": text,
            "lang": lang,
        }
        return self._send_about(engagement, k.JOINT_SUMMARY, body)

    def sign_joint_summary(self, summary_id: str) -> Statement:
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

        body = {"summary": summary_id, "sha256": hashlib.sha256(summary.text.encode()).hexdigest()}
        return self._send(summary.proposer, k.JOINT_SUMMARY_SIGN, body, check, names)

    # -- views -------------------------------------------------------------------------

    def _peer_offices(self, rec: Record, peer: str) -> set[str]:
        if peer not in {p.party for p in self.node.peers()}:
            raise NotFound(f"no pinned peer {peer!r}", field="peer")
        return {o.id for o in rec.directory.offices if o.party == peer}

    def board(self, peer: str | None = None) -> dict[str, Any]:
        """The board as data, after recording what is due: everything open, the
        latest acts, the last contact per level, tallies over everything (see
        :func:`board_view`); with ``peer``, only what concerns that peer.

        Raises:
            InvalidInput: the loaded history is broken.
            NotFound: ``peer`` is not pinned.
        """
        self.record_due_quietly()
        now = self.now()
        with self.node.store.read() as conn:
            threads = self.state.board_threads(conn, now, recent=BOARD_RECENT)
            rec = self._fold(conn, now, threads=sorted(threads))
            tallies = self.state.closed_tallies(conn, exclude=threads)
            refused = self.state.recent_refused(conn, BOARD_RECENT)
        view = board_view(rec, party=self.party)
        view["tallies"] = add_tallies(view["tallies"], tallies)
        view["refused"] = refused
        view["unacknowledged_messages"] = [
            {**row, "seconds_left": int((parse_time(row["ack_deadline"]) - now).total_seconds())}
            for row in self.node.messages(pending=True)
        ]
        if peer is None:
            return view
        return board_for_peer(view, peer, self._peer_offices(rec, peer))

    def timeline(self, peer: str | None = None) -> list[dict[str, Any]]:
        """Public record and signed statements, oldest first, after recording what is
        due; with ``peer``, only what passed between this node and that peer (and the
        public record when the peer is one of its parties).

        Raises:
            InvalidInput: the loaded history is broken.
            NotFound: ``peer`` is not pinned.
        """
        self.record_due_quietly()
        record = self.record()
        entries = timeline_view(record)
        if peer is None:
            return entries
        self._peer_offices(record, peer)
        history = record.history
        parties = {p.id for p in history.directory.parties} if history is not None else set()
        return timeline_for_peer(entries, peer, history_parties=parties)

    def directory(self) -> dict[str, Any]:
        """Parties, offices, holders and counterpart views. Raises nothing new."""
        return directory_view(self._globals())

    def calendar(self) -> bytes:
        """Scheduled engagements as an iCalendar file. Raises nothing new."""
        return calendar_ics(self.record(), party=self.party)

    # -- what is due -----------------------------------------------------------------------

    def record_due(self, now: datetime | None = None) -> list[Statement]:
        """Record "no response" for this party's requests past their deadline, and
        missed calls past their ring timeout; return the statements sent.

        Raises:
            NotFound: no pinned peer (only when something is due).
        """
        now = now or self.now()
        with self.node.store.read() as conn:
            due = self.state.due_threads(conn, now, party=self.party)
            if not due:
                return []  # the ticker's usual case: one indexed query
            rec = self._fold(conn, now, threads=due)
        out: list[Statement] = []
        for req in rec.requests.values():
            if req.from_party != self.party or req.id in rec.lapse_records:
                continue
            if now < req.deadline:
                continue
            outcome = request_outcome(req, rec.request_events(req.id), max(now, req.proposed_at))
            if outcome.state is not RequestState.LAPSED:
                continue

            body = {"request": req.id, "deadline": format_time(req.deadline)}

            def lapse_check(
                r: Record, at: datetime, rid: str = req.id, body: dict[str, Any] = body
            ) -> None:
                if rid in r.lapse_records:
                    raise Conflict(f"{rid} is recorded as lapsed already", field="request_id")
                self._check_due(r, k.REQUEST_LAPSED, body, at, "request_id")

            names = [item_name(ItemKind.REQUEST, req.id)]
            out.append(self._send(req.to_party, k.REQUEST_LAPSED, body, lapse_check, names))
        for call in rec.calls.values():
            if call.from_party != self.party or call.id in rec.missed_records:
                continue
            _c, state = self._call_state(rec, call.id, now)
            if state is not CallState.MISSED:
                continue

            def missed_check(r: Record, at: datetime, cid: str = call.id) -> None:
                if cid in r.missed_records:
                    raise Conflict(f"{cid} is recorded as missed already", field="call_id")
                self._check_due(r, k.CALL_MISSED, {"call": cid}, at, "call_id")

            names = [item_name(ItemKind.CALL, call.id)]
            out.append(
                self._send(call.to_party, k.CALL_MISSED, {"call": call.id}, missed_check, names)
            )
        return out

    def _check_due(
        self, rec: Record, kind: str, body: dict[str, Any], at: datetime, field: str
    ) -> None:
        # What the peer would refuse (or fold as refused) is not signed: e.g.
        # ``record_due(now)`` with ``now`` ahead of the clock the statement carries.
        try:
            check_due(rec, kind, sender=self.party, body=body, at=at)
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


class DueTicker:
    """A thread calling :meth:`HotlineService.record_due` every ``interval`` seconds."""

    def __init__(self, hotline: HotlineService, *, interval: float = 1.0) -> None:
        self.hotline = hotline
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hotline-due", daemon=True)

    def start(self) -> None:
        """Start ticking. Raises nothing."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop and wait for the thread. Raises nothing."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.hotline.record_due_quietly()
            except Exception:  # the ticker must outlive any one bad tick
                log.exception("hotline ticker failed")
