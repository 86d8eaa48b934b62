"""The hotline service's foundation: its state, the fold of the threads an act
concerns, signing in the checking transaction, and who an act goes to.

:class:`~redline.service.hotline.HotlineService` is built on it (through
:class:`~redline.service.hotline_engagements.Engagements`); the parsing helpers
the CLI and the API share are here too.
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import threading
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from redline.core.errors import Conflict, InvalidInput, InvalidStatement, NotFound
from redline.core.fields import Body, invalid_statement
from redline.core.hotline import kinds as k
from redline.core.hotline.history import PublicHistory, parse_history
from redline.core.hotline.lifecycle import RequestState
from redline.core.hotline.record import Record
from redline.core.hotline.requests import (
    Window,
    request_outcome,
)
from redline.core.hotline.threads import (
    GLOBAL_KINDS,
    MAX_THREAD_STATEMENTS,
    ItemKind,
    item_name,
)
from redline.core.statement import Statement, format_time
from redline.service.hotline_state import HotlineState
from redline.service.node import NodeService
from redline.store import hotline as store
from redline.store.db import Connection

__all__ = [
    "HISTORY_FILE",
    "HotlineBase",
    "load_history_into",
    "parse_day",
    "parse_when",
    "parse_window",
]

log = logging.getLogger("redline.hotline")

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
        InvalidInput: not such a time, no zone given, or a time that is past
            year 9999 in UTC (``9999-12-31T23:59:59-10:00``).
    """
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise InvalidInput(
            f"{text!r} is not a time such as 2026-11-22T09:00Z", field=field
        ) from exc
    if moment.tzinfo is None:
        raise InvalidInput(f"{text!r} has no time zone; add Z or +08:00", field=field)
    try:
        # Round to whole microseconds in UTC, the statement time format.
        return datetime.fromisoformat(format_time(moment).replace("Z", "+00:00"))
    except OverflowError as exc:
        raise InvalidInput(f"{text!r} is past year 9999 in UTC", field=field) from exc


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


B = TypeVar("B", bound=Body)


def _window_json(w: Window) -> dict[str, str]:
    return {"start": format_time(w.start), "end": format_time(w.end)}


def build(model: type[B], **fields: Any) -> B:
    """The body of an operator's act, as ``model``: the one check of its shape.

    Raises:
        InvalidInput: naming the field as the operator gave it (``windows[0].end``,
            ``counter_deadline``, ``reason``).
    """
    if fields.get("by", 0) is None:
        del fields["by"]  # an automatic act, or one not made by a named operator
    try:
        return model(**fields)
    except ValidationError as exc:
        error = invalid_statement(exc)
        raise InvalidInput(error.message, field=_input_field(error.field)) from None


def _input_field(body_field: str | None) -> str:
    """The operator's name for a body field: ``body.counter.windows[0].end`` was
    given as ``counter_windows[0].end``, ``body.deadline`` as ``deadline``."""
    name = (body_field or "body").removeprefix("body.")
    if name.startswith("counter."):
        return "counter_" + name.removeprefix("counter.")
    return name


def _new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(5)}"


def _of_a_projection(hook: object) -> bool:
    return isinstance(getattr(hook, "__self__", None), HotlineState)


class HotlineBase:
    """The hotline over one node's :class:`NodeService`.

    Registers the receipt-time check with ``node`` on construction. ``horizon``
    is how far past its signing time an act may name a time (a window, a
    deadline): the ``time_horizon_days`` setting. Statements from peers are held
    to :data:`~redline.core.hotline.kinds.DEFAULT_HORIZON`.
    """

    def __init__(
        self,
        node: NodeService,
        *,
        node_path: Path | None = None,
        name: str | None = None,
        horizon: timedelta = k.DEFAULT_HORIZON,
    ) -> None:
        self.node = node
        self.horizon = horizon
        #: The party's name, for a directory this node publishes first.
        self.name = name or node.party
        self.node_path = node_path
        self._history: tuple[float, PublicHistory] | None = None
        self._lock = threading.Lock()
        self.state = HotlineState(history=self.history)
        # One projection per node: a later service replaces an earlier one's hooks
        # (two would index every statement twice).
        for hooks in (node.receive_checks, node.on_stored):
            hooks[:] = [h for h in hooks if not _of_a_projection(h)]
        node.write_locks[:] = [h for h in node.write_locks if not _of_a_projection(h)]
        node.write_locks.append(self.state.lock)
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
        body: Body,
        check: Callable[[Record, datetime], None],
        names: Sequence[str] = (),
    ) -> Statement:
        """Sign ``body`` to ``to`` once ``check`` passes against the threads ``names``
        belong to, folded in the signing transaction, and no time in ``body`` lies
        past the horizon from the signing time.

        Raises:
            InvalidInput: a time past the horizon, named as the operator gave it
                (``windows[0].start``, ``deadline``, ``counter_deadline``); or
                what ``check`` raises.
        """

        wire = body.wire()

        def in_transaction(conn: Connection, at: datetime) -> None:
            store.lock_projection(conn)
            try:
                k.check_horizon(kind, wire, signed_at=at, horizon=self.horizon)
            except InvalidStatement as exc:
                raise InvalidInput(exc.message, field=_input_field(exc.field)) from exc
            record = self._fold(conn, at, names)
            held = sum(1 for s in record.statements if s.kind not in GLOBAL_KINDS)
            if held >= MAX_THREAD_STATEMENTS:
                raise Conflict(
                    f"this engagement holds {MAX_THREAD_STATEMENTS} statements, the most one "
                    "takes; start another",
                    field="thread",
                )
            check(record, at)

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
