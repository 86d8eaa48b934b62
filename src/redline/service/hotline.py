"""The hotline's use cases: directory, requests, calls, mechanisms, readouts, board.

Every act is a signed statement sent, through :meth:`NodeService.send`, to
the party it concerns (the other side of the request, call or summary; the
owner of the counterpart office; every peer for a directory), so it is in
the node's log and delivered with receipts. Each act is checked inside the
transaction that signs it, against the state of the threads it concerns
(:class:`~redline.service.hotline_state.HotlineState`) at the very time the
statement will carry; on any error nothing is stored.

Statements from peers are checked on receipt
(:func:`redline.core.hotline.checks.check_incoming`, registered as one of the
node's ``receive_checks``); see that module for which rules are refused on
receipt (422, nothing stored) and which are folded as refused events.

The public history is shown only when it is loaded into the node directory
(``DIR/public-history.json``, written by ``redline history load`` and by
``redline demo``), always marked ``public-record``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from redline.core.errors import Conflict, InvalidInput, NotFound
from redline.core.fields import ActedBy, invalid_statement
from redline.core.hotline import kinds as k
from redline.core.hotline._checks import check_enum
from redline.core.hotline.bodies import CounterpartBody, MechanismStatusBody, Name, Title
from redline.core.hotline.directory import Directory, Holding, Level, Office, Party
from redline.core.hotline.fold import mechanism_move, participants
from redline.core.hotline.mechanism import Mechanism
from redline.core.hotline.record import Record, directory_body
from redline.core.statement import Statement, parse_time
from redline.service.hotline_base import (
    HISTORY_FILE,
    build,
    load_history_into,
    parse_day,
    parse_when,
    parse_window,
)
from redline.service.hotline_engagements import Engagements
from redline.service.hotline_records import (
    calendar_ics,
    directory_view,
    timeline_for_peer,
    timeline_view,
)
from redline.service.hotline_state import catalogue
from redline.service.hotline_views import add_tallies, board_for_peer, board_view
from redline.service.linktests import link_tests_board
from redline.service.paging import DEFAULT_LIMIT, check_limit, decode_cursor, encode_cursor

__all__ = [
    "BOARD_RECENT",
    "HISTORY_FILE",
    "HotlineService",
    "load_history_into",
    "parse_day",
    "parse_when",
    "parse_window",
]

#: How many recently acted-on requests, calls, readouts and refused statements
#: the board shows besides everything open (the timeline shows all).
BOARD_RECENT = 20


def _language_map(
    texts: Mapping[str, str] | None, *, en: str, zh: str, field: str, line: Any
) -> dict[str, str]:
    """``texts``, or the map the two one-language arguments make (those left
    blank are left out; the office or holding refuses an empty map). Each text
    is checked as ``line`` (a title, a name) under the operator's own field:
    ``title_en``, or ``titles.fr`` for a map.

    Raises:
        InvalidInput: naming the field of a text that may not be signed.
    """
    given = (
        {f"{field}s.{lang}": (lang, text) for lang, text in texts.items()}
        if texts
        else {f"{field}_{lang}": (lang, text) for lang, text in (("en", en), ("zh", zh)) if text}
    )
    checked: dict[str, str] = {}
    for name, (lang, text) in given.items():
        try:
            checked[lang] = line.validate_python(text)
        except ValidationError as exc:
            raise InvalidInput(invalid_statement(exc).message, field=name) from exc
    return checked


_TITLE = TypeAdapter(Title)
_NAME = TypeAdapter(Name)


def _timeline_key(entry: dict[str, Any]) -> tuple[str, str]:
    tie = entry.get("statement_id") or f"~{entry.get('title', '')}"
    return (str(entry["at"]), str(tie)[:100])


class HotlineService(Engagements):
    """The hotline over one node's :class:`NodeService`: directory, mechanisms,
    engagements (:class:`Engagements`) and the views.

    Registers the receipt-time check and the projection's upkeep with ``node`` on
    construction.
    """

    def load_history(self) -> Path:
        """Load the packaged public history into the node directory, and fold every
        thread again: the history's records and mechanism events are part of what
        each fold reads. Returns the file's path.

        Raises:
            InvalidInput: the node has no directory.
        """
        if self.node_path is None:
            raise InvalidInput("this node has no directory to load the history into", field="dir")
        target = load_history_into(self.node_path)
        with self.node.store.write() as conn:
            self.state.refold_all(conn)
        return target

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
                    optional = {"note": d.note} if d.note else {}
                    declared = build(
                        CounterpartBody,
                        own_office=d.own_office,
                        counterpart_office=d.counterpart_office,
                        **optional,
                    )
                    bodies.append((k.COUNTERPART, declared.wire()))
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
        # The node names a bad field of the body (InvalidInput, body.offices[0]...).
        body = directory_body(directory, self.party)
        return [
            self.node.send(to=peer, kind=k.DIRECTORY, body=body) for peer in self._peer_parties()
        ]

    def add_office(
        self,
        office_id: str,
        *,
        level: str,
        titles: Mapping[str, str] | None = None,
        title_en: str = "",
        title_zh: str = "",
        seats: int = 1,
        time_zone: str | None = None,
    ) -> list[Statement]:
        """Add an office to this party's directory and publish it to every peer.

        ``titles`` maps a language tag to the office's title in it (``{"en": ...,
        "zh": ...}``); ``title_en`` and ``title_zh`` are the same two entries,
        given one by one. ``time_zone`` (IANA) is this party's, used the first
        time it publishes.

        Raises:
            InvalidInput: a bad id, level, title or time zone; an id already in use.
            NotFound: no pinned peer.
        """
        if not office_id.startswith(f"{self.party}-"):
            raise InvalidInput(f"must start with {self.party}-", field="id")
        rec = self._globals()
        if any(o.id == office_id for o in rec.directory.offices):
            raise InvalidInput(f"office {office_id!r} already exists", field="id")
        directory = self._own_directory(rec, time_zone)
        office = Office(
            id=office_id,
            party=self.party,
            titles=_language_map(titles, en=title_en, zh=title_zh, field="title", line=_TITLE),
            level=check_enum(level, Level, "level"),
            seats=seats,
        )
        return self._republish(replace(directory, offices=(*directory.offices, office)))

    def set_holder(
        self,
        office_id: str,
        *,
        person: Mapping[str, str] | None = None,
        person_en: str = "",
        person_zh: str = "",
        since: date,
        note: str = "",
    ) -> list[Statement]:
        """Record that ``person`` holds one of this party's offices from ``since`` (the
        previous holder's term ends that day), and publish it to every peer.

        ``person`` maps a language tag to the holder's name in it; ``person_en``
        and ``person_zh`` are the same two entries, given one by one.

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
                        f"{h.name('en')} holds {office_id} from {h.start}; give a later date",
                        field="since",
                    )
                h = replace(h, end=since)
            holdings.append(h)
        holdings.append(
            Holding(
                office_id=office_id,
                person=_language_map(
                    person, en=person_en, zh=person_zh, field="person", line=_NAME
                ),
                start=since,
                end=None,
                note=note,
            )
        )
        return self._republish(replace(directory, holdings=tuple(holdings)))

    def declare_counterpart(
        self, *, own_office: str, counterpart_office: str, note: str = "", by: ActedBy | None = None
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
        optional = {"note": note} if note else {}
        body = build(
            CounterpartBody,
            own_office=own_office,
            counterpart_office=counterpart_office,
            **optional,
            by=by,
        )
        return self._send(to, k.COUNTERPART, body, check)

    # -- mechanisms -----------------------------------------------------------------

    def set_mechanism(
        self,
        *,
        mechanism: str,
        status: str,
        reason: str,
        to: str | None = None,
        by: ActedBy | None = None,
    ) -> Statement:
        """Record that this party moves ``mechanism`` to ``status`` (suspended, resumed,
        active), telling ``to``: by default the one other party whose offices the
        mechanism joins.

        Raises:
            InvalidInput: unknown mechanism or status, blank reason, no ``to`` where
                the mechanism does not name exactly one other party.
            Conflict: the move is illegal from this party's own status of the
                mechanism (resuming what another party suspended, say).
            NotFound: ``to`` is not pinned.
        """
        body = build(MechanismStatusBody, mechanism=mechanism, status=status, reason=reason, by=by)

        def joined(rec: Record) -> tuple[Mechanism, set[str]]:
            mech = next((m for m in rec.mechanisms if m.id == mechanism), None)
            if mech is None:
                raise InvalidInput(f"unknown mechanism {mechanism!r}", field="mechanism")
            return mech, participants(mech, rec.directory)

        def check(rec: Record, at: datetime) -> None:
            mech, parties = joined(rec)
            mechanism_move(
                rec.mechanism_events,
                mech,
                party=self.party,
                status=body.status.value,
                at=at,
                participants=parties,
            )

        _mech, parties = joined(self._globals())
        others = sorted(parties - {self.party})
        if to is None:
            if len(others) != 1:
                raise InvalidInput(
                    f"{mechanism} does not join exactly one other party; say which (to)",
                    field="to",
                )
            to = others[0]
        elif to not in others:
            raise InvalidInput(f"{to} is not a party to {mechanism}", field="to")
        return self._send(to, k.MECHANISM_STATUS, body, check)

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
            view["links"] = self.node.link_health()
            view["link_tests"] = link_tests_board(self.node)
            return view
        narrowed = board_for_peer(view, peer, self._peer_offices(rec, peer))
        narrowed["links"] = self.node.link_health(peer)
        narrowed["link_tests"] = link_tests_board(self.node, peer)
        return narrowed

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

    def timeline_page(
        self, peer: str | None = None, *, limit: int = DEFAULT_LIMIT, cursor: str | None = None
    ) -> dict[str, Any]:
        """One page of :meth:`timeline`, oldest first: ``{"entries": [...], "next":
        cursor or None}``; pass ``next`` back as ``cursor`` for the page after.

        The timeline is folded whole (the reference fold: it is the record's
        own reading); the page bounds what is sent. Entries are ordered by
        time, then statement id (or, for the public record, its title), so a
        cursor is a place in that order and an entry added later after it is
        not skipped.

        Raises:
            InvalidInput: a bad ``limit`` or ``cursor`` (field named).
            NotFound: ``peer`` is not pinned.
        """
        check_limit(limit)
        after = None if cursor is None else tuple(decode_cursor(cursor, (str, str)))
        entries = sorted(self.timeline(peer), key=_timeline_key)
        if after is not None:
            entries = [e for e in entries if _timeline_key(e) > after]
        page = entries[:limit]
        more = len(entries) > limit
        return {
            "entries": page,
            "next": encode_cursor(list(_timeline_key(page[-1]))) if more else None,
        }

    def directory(self) -> dict[str, Any]:
        """Parties, offices, holders and counterpart views. Raises nothing new."""
        return directory_view(self._globals())

    def calendar(self) -> bytes:
        """Scheduled engagements as an iCalendar file. Raises nothing new."""
        return calendar_ics(self.record(), party=self.party)
