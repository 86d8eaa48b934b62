"""What a node's hotline statements say, as data: the :class:`Record` a fold
produces, the events it lists, and how a statement's body becomes a domain
object (a request, a response, a call, a directory).

The fold itself is :mod:`redline.core.hotline.fold`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from redline.core.errors import InvalidStatement
from redline.core.hotline.board import Contact
from redline.core.hotline.bodies import (
    CallBody,
    CallEventBody,
    DirectoryBody,
    RequestBody,
    ResponseBody,
    WindowBody,
)
from redline.core.hotline.calls import Call, CallEvent
from redline.core.hotline.directory import (
    CounterpartDeclaration,
    Directory,
    Holding,
    Office,
    Party,
)
from redline.core.hotline.history import PublicHistory
from redline.core.hotline.mechanism import Mechanism, MechanismEvent, with_pair_hotlines
from redline.core.hotline.requests import (
    Counter,
    EngagementRequest,
    Response,
    Window,
)
from redline.core.statement import Statement, parse_time

__all__ = [
    "CallMessage",
    "JointSummary",
    "PUBLIC",
    "Readout",
    "Record",
    "Refused",
    "directory_body",
    "with_declaration",
    "with_hotlines",
    "with_party",
    "request_of",
    "response_of",
    "call_of",
    "call_event_of",
]

PUBLIC: str = "public-record"


@dataclass(frozen=True, slots=True, kw_only=True)
class Refused:
    """A signed statement that had no effect, and why. Raises nothing."""

    statement_id: str
    kind: str
    sender: str
    at: datetime
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CallMessage:
    """One line said on a call. Raises nothing."""

    statement_id: str
    call_id: str
    sender: str
    at: datetime
    text: str
    lang: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Readout:
    """A party's own account of an engagement. Raises nothing."""

    statement_id: str
    id: str
    engagement: str
    party: str
    at: datetime
    text: str
    lang: str


@dataclass(slots=True, kw_only=True)
class JointSummary:
    """A summary one party proposed; it counts once the other has signed it too.

    Raises nothing.
    """

    statement_id: str
    id: str
    engagement: str
    proposer: str
    at: datetime
    text: str
    lang: str
    signed_by: list[str] = field(default_factory=list)

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the UTF-8 text, what the co-signer signs. Raises nothing."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @property
    def counts(self) -> bool:
        """True when both parties have signed it. Raises nothing."""
        return len(set(self.signed_by)) >= 2


@dataclass(slots=True, kw_only=True)
class Record:
    """Everything the signed statements (and the loaded public history) say, as of ``now``.

    ``sources`` maps an item key (``request:<id>``, ``call:<id>``,
    ``mechanism_event:<n>``, ``party:<id>``, ``declaration:<party>:<office>``)
    to the id of the statement that made it, or ``public-record``.

    Raises nothing.
    """

    as_of: datetime
    directory: Directory
    mechanisms: tuple[Mechanism, ...]
    mechanism_events: list[MechanismEvent] = field(default_factory=list)
    requests: dict[str, EngagementRequest] = field(default_factory=dict)
    responses: list[Response] = field(default_factory=list)
    lapse_records: dict[str, str] = field(default_factory=dict)
    calls: dict[str, Call] = field(default_factory=dict)
    ring_timeouts: dict[str, timedelta] = field(default_factory=dict)
    call_events: list[CallEvent] = field(default_factory=list)
    missed_records: dict[str, str] = field(default_factory=dict)
    messages: list[CallMessage] = field(default_factory=list)
    readouts: list[Readout] = field(default_factory=list)
    summaries: dict[str, JointSummary] = field(default_factory=dict)
    contacts: list[Contact] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    statements: list[Statement] = field(default_factory=list)
    history: PublicHistory | None = None

    def source(self, key: str) -> str:
        """``public-record``, or the id of the statement behind ``key``. Raises nothing."""
        return self.sources.get(key, PUBLIC)

    def made_without_effect(self, request_id: str) -> bool:
        """Whether ``request_id`` was made by a statement the fold refused (a counter
        that crossed a withdrawal): acts on it then cross too. Raises nothing."""
        refused = {r.statement_id for r in self.refused}
        for s in self.statements:
            if s.id not in refused:
                continue
            body = s.model
            made = body.id if isinstance(body, RequestBody) else None
            if isinstance(body, ResponseBody) and body.counter is not None:
                made = body.counter.id
            if made == request_id:
                return True
        return False

    def request_events(self, request_id: str) -> list[Response]:
        """The effective responses to ``request_id``. Raises nothing."""
        return [r for r in self.responses if r.request_id == request_id]

    def call_events_of(self, call_id: str) -> list[CallEvent]:
        """The effective events of call ``call_id``. Raises nothing."""
        return [e for e in self.call_events if e.call_id == call_id]


# -- directory -------------------------------------------------------------------


def directory_body(directory: Directory, party_id: str) -> dict[str, Any]:
    """The body of a ``directory`` statement publishing ``party_id``'s part of ``directory``.

    Raises:
        NotFound: no such party in ``directory``.
    """
    party = directory.party(party_id)
    offices = [o for o in directory.offices if o.party == party_id]
    ids = {o.id for o in offices}
    return {
        "party": party.id,
        "name_en": party.name_en,
        "name_zh": party.name_zh,
        "time_zone": party.time_zone,
        "offices": [
            {
                "id": o.id,
                "titles": dict(o.titles),
                "level": o.level.value,
                "seats": o.seats,
            }
            for o in offices
        ],
        "holdings": [
            {
                "office": h.office_id,
                "person": dict(h.person),
                "start": h.start.isoformat(),
                "end": h.end.isoformat() if h.end is not None else None,
                **({"note": h.note} if h.note else {}),
            }
            for h in directory.holdings
            if h.office_id in ids
        ],
    }


def with_party(directory: Directory, body: DirectoryBody) -> Directory:
    """``directory`` with the publisher's part replaced by a ``directory`` body.

    Raises:
        InvalidStatement: the body lists an office another party holds, or leaves
            out one the party published before (an office is never removed: items
            name it).
    """
    pid = body.party
    listed = {o.id for o in body.offices}
    for office in directory.offices:
        if office.party == pid and office.id not in listed:
            raise InvalidStatement(
                f"{office.id} is missing; a directory keeps every office it published",
                field="body.offices",
            )
    # The body model ties every holding to one of body.offices; those must be
    # the publisher's own, not an office the other party holds.
    owners = {o.id: o.party for o in directory.offices}
    for i, o in enumerate(body.offices):
        owner = owners.get(o.id, pid)
        if owner != pid:
            raise InvalidStatement(
                f"{o.id} is an office of {owner}; {pid} publishes only its own",
                field=f"body.offices[{i}].id",
            )
    party = Party(id=pid, name_en=body.name_en, name_zh=body.name_zh, time_zone=body.time_zone)
    # A directory signed in the two-language shape gives its model the same maps.
    offices = tuple(
        Office(id=o.id, party=pid, titles=o.titles or {}, level=o.level, seats=o.seats)
        for o in body.offices
    )
    holdings = tuple(
        Holding(
            office_id=h.office,
            person=h.person or {},
            start=date.fromisoformat(h.start),
            end=date.fromisoformat(h.end) if h.end is not None else None,
            note=h.note,
        )
        for h in body.holdings
    )
    own = {o.id for o in directory.offices if o.party == pid}
    return Directory(
        parties=tuple(p for p in directory.parties if p.id != pid) + (party,),
        offices=tuple(o for o in directory.offices if o.party != pid) + offices,
        holdings=tuple(h for h in directory.holdings if h.office_id not in own) + holdings,
        declarations=directory.declarations,
    )


def with_declaration(directory: Directory, d: CounterpartDeclaration) -> Directory:
    """``directory`` with ``d`` replacing that party's declaration for the office.
    Raises nothing."""
    kept = tuple(
        x
        for x in directory.declarations
        if not (x.declaring_party == d.declaring_party and x.own_office == d.own_office)
    )
    return Directory(
        parties=directory.parties,
        offices=directory.offices,
        holdings=directory.holdings,
        declarations=kept + (d,),
    )


def with_hotlines(mechanisms: Iterable[Mechanism], directory: Directory) -> tuple[Mechanism, ...]:
    """``mechanisms`` with each pair of ``directory``'s parties' own hotline.
    Raises nothing."""
    return with_pair_hotlines(
        mechanisms,
        [(p.id, p.name_en, p.name_zh) for p in directory.parties],
        [(o.id, o.party) for o in directory.offices],
    )


# -- building domain objects from bodies ----------------------------------------------


def _window(raw: WindowBody) -> Window:
    return Window(start=parse_time(raw.start), end=parse_time(raw.end))


def request_of(st: Statement, directory: Directory) -> EngagementRequest:
    """The request a ``request`` statement makes.

    Raises:
        InvalidStatement: an unknown office, or one not of the sender or addressee.
    """
    b = st.typed(RequestBody)
    sides = {}
    for name, office_id in (("from_office", b.from_office), ("to_office", b.to_office)):
        office = next((o for o in directory.offices if o.id == office_id), None)
        if office is None:
            raise InvalidStatement(f"unknown office {office_id!r}", field=f"body.{name}")
        sides[name] = office.party
    if sides["from_office"] != st.sender:
        raise InvalidStatement(
            f"{b.from_office} is not an office of the sender {st.sender!r}",
            field="body.from_office",
        )
    if sides["to_office"] != st.to:
        raise InvalidStatement(
            f"{b.to_office} is not an office of the addressee {st.to!r}", field="body.to_office"
        )
    return EngagementRequest(
        id=b.id,
        from_office=b.from_office,
        to_office=b.to_office,
        from_party=st.sender,
        to_party=st.to,
        mechanism=b.mechanism,
        mode=b.mode,
        windows=tuple(_window(w) for w in b.windows),
        proposed_at=st.sent_at,
        deadline=parse_time(b.deadline),
        agenda=tuple(b.agenda),
        notes=tuple(b.notes),
        in_reply_to=b.in_reply_to,
    )


def response_of(st: Statement) -> Response:
    """The response a ``response`` statement gives. Raises nothing for a checked body."""
    b = st.typed(ResponseBody)
    counter = None
    if (c := b.counter) is not None:
        counter = Counter(
            new_request_id=c.id,
            offered_office=c.offered_office,
            to_office=c.to_office,
            windows=tuple(_window(w) for w in c.windows),
            deadline=parse_time(c.deadline),
            note=c.note,
        )
    return Response(
        request_id=b.request,
        action=b.action,
        by_party=st.sender,
        at=st.sent_at,
        window=_window(b.window) if b.window is not None else None,
        reason=b.reason or "",
        counter=counter,
    )


def call_of(st: Statement, directory: Directory) -> Call:
    """The call a ``call`` statement places.

    Raises:
        InvalidStatement: an unknown office, or one on the wrong side.
    """
    b = st.typed(CallBody)
    parties = {}
    for name, office_id in (("from_office", b.from_office), ("to_office", b.to_office)):
        office = next((o for o in directory.offices if o.id == office_id), None)
        if office is None:
            raise InvalidStatement(f"unknown office {office_id!r}", field=f"body.{name}")
        parties[name] = office.party
    if parties["from_office"] != st.sender or parties["to_office"] != st.to:
        raise InvalidStatement(
            f"a call goes from an office of {st.sender} to an office of {st.to}",
            field="body.from_office" if parties["from_office"] != st.sender else "body.to_office",
        )
    return Call(
        id=b.id,
        from_office=b.from_office,
        to_office=b.to_office,
        from_party=st.sender,
        to_party=st.to,
        mechanism=b.mechanism,
        mode=b.mode,
        placed_at=st.sent_at,
        purpose=b.purpose,
    )


def call_event_of(st: Statement) -> CallEvent:
    """The event a ``call-event`` statement records. Raises nothing for a checked body."""
    b = st.typed(CallEventBody)
    return CallEvent(
        call_id=b.call,
        action=b.action,
        by_party=st.sender,
        at=st.sent_at,
        reason=b.reason,
    )
