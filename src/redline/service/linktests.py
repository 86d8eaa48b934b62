"""Link tests: heartbeats on a schedule, answered by the peer's node; a daily
operator test answered by a person; per-link figures; and the alarms that
tell "peer node unreachable" from "reachable, nobody answered"
(docs/link-tests.md).

:class:`LinkTests` keeps its table up to date from the node's ``on_stored``
hook (every test and answer, sent or received, in the transaction that stores
it) and does the rest in :meth:`LinkTests.tick`, which the node's
:class:`~redline.service.ticker.Ticker` calls every second: reply to heartbeats received,
send what the schedule says is due, settle tests past their deadline. A
received heartbeat wakes the ticker, so the reply goes out at once, in its
own transaction after the one that stored the heartbeat.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Connection

from redline.core.errors import Conflict, InvalidInput, NotFound, RedlineError
from redline.core.hotline.lifecycle import LinkTestState
from redline.core.kinds import HEARTBEAT
from redline.core.linktests import (
    ALARM_FOR,
    HEARTBEAT_REPLY,
    LINK_TEST_KINDS,
    OPERATOR_TEST,
    OPERATOR_TEST_ANSWER,
    LinkTestAlarm,
    LinkTestKind,
    LinkTestRow,
    Missed,
    check_zone,
    figures,
    heartbeat_due,
    missed_because,
    operator_test_day,
    parse_test_time,
)
from redline.core.statement import Statement, format_time, parse_time
from redline.service.node import NodeService
from redline.service.paging import DEFAULT_LIMIT, check_limit, decode_cursor, encode_cursor
from redline.store import alarms as alarm_store
from redline.store import linktests as store
from redline.store import repo

__all__ = [
    "FIGURES_WINDOW",
    "LinkTestSettings",
    "LinkTests",
    "link_tests_board",
    "settings_of",
]

log = logging.getLogger("redline")

#: The figures are over each link's latest this many tests of each kind.
FIGURES_WINDOW = 1000
#: How many overdue tests, owed replies, or incoming tests awaiting an answer
#: one tick or one view takes at once (the rest wait for the next).
BATCH = 256
_REF = re.compile(r"^[0-9a-f]{8,64}$")
_ANSWERS = {HEARTBEAT_REPLY: HEARTBEAT, OPERATOR_TEST_ANSWER: OPERATOR_TEST}
_ANSWERED_FIELD = {HEARTBEAT_REPLY: "heartbeat", OPERATOR_TEST_ANSWER: "test"}


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkTestSettings:
    """The node's link-test settings (``link_test_*``, ``operator_test_*``);
    a link's own schedule overrides the interval, the daily time and the zone."""

    heartbeat_interval: timedelta = timedelta(hours=1)
    heartbeat_timeout: timedelta = timedelta(minutes=5)
    operator_test_time: str = "09:00"
    operator_test_zone: str = "UTC"
    operator_test_timeout: timedelta = timedelta(minutes=10)


class _Config(Protocol):
    link_test_interval_seconds: float
    link_test_timeout_seconds: float
    operator_test_time: str
    operator_test_zone: str
    operator_test_timeout_seconds: float


def settings_of(config: _Config) -> LinkTestSettings:
    """The link-test settings of a node's configuration (``NodeConfig``). Raises nothing."""
    return LinkTestSettings(
        heartbeat_interval=timedelta(seconds=config.link_test_interval_seconds),
        heartbeat_timeout=timedelta(seconds=config.link_test_timeout_seconds),
        operator_test_time=config.operator_test_time,
        operator_test_zone=config.operator_test_zone,
        operator_test_timeout=timedelta(seconds=config.operator_test_timeout_seconds),
    )


def _figures(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    done = figures(
        [
            LinkTestRow(
                state=LinkTestState(r["state"]),
                sent_at=parse_time(r["sent_at"]),
                answered_at=parse_time(r["answered_at"]) if r["answered_at"] else None,
            )
            for r in rows
        ]
    )
    return {
        "sent": done.sent,
        "answered": done.answered,
        "missed": done.missed,
        "pending": done.pending,
        "answer_rate": done.answer_rate,
        "latency_p50_ms": done.latency_p50_ms,
        "latency_last_ms": done.latency_last_ms,
        "last_answered_at": format_time(done.last_answered_at) if done.last_answered_at else None,
        "last_sent_at": rows[0]["sent_at"] if rows else None,
    }


def _link_alarms(conn: Connection, peer: str) -> list[dict[str, Any]]:
    return [
        a
        for kind in LinkTestAlarm
        for a in alarm_store.open_alarms(conn, kind=kind.value)
        if a["peer"] == peer
    ]


def _link(conn: Connection, peer: str, now: str) -> dict[str, Any]:
    """One link's figures, its tests awaiting this node's operator (not yet past
    their time to answer at ``now``), its open alarms."""
    waiting = [
        w
        for w in store.page(
            conn, peer=peer, kind=OPERATOR_TEST, direction="in", pending=True, after=None, limit=20
        )
        if w["due_at"] > now
    ]
    return {
        "peer": peer,
        **{
            kind.value: _figures(
                store.recent(
                    conn, peer=peer, kind=kind.value, direction="out", limit=FIGURES_WINDOW
                )
            )
            for kind in LinkTestKind
        },
        "awaiting_answer": [
            {"id": w["id"], "sent_at": w["sent_at"], "answer_by": w["due_at"]} for w in waiting
        ],
        "alarms": _link_alarms(conn, peer),
    }


def link_tests_board(node: NodeService, peer: str | None = None) -> list[dict[str, Any]]:
    """Each link's (or ``peer``'s) test figures, incoming operator tests awaiting
    an answer, and open link-test alarms, for the board. Raises nothing."""
    with node.store.read() as conn:
        peers = [p.party for p in repo.list_peers(conn) if peer is None or p.party == peer]
        return [_link(conn, p, format_time(node.clock())) for p in peers]


class LinkTests:
    """The link tests of one node (see the module's docstring).

    Building it registers its ``on_stored`` hook on ``node`` (in place of any
    earlier one's), before anything is stored.
    """

    def __init__(self, node: NodeService, settings: LinkTestSettings | None = None) -> None:
        self.node = node
        self.settings = settings or LinkTestSettings()
        #: Called when a heartbeat arrives (the ticker's wake-up).
        self.on_heartbeat: Callable[[], None] | None = None
        # One upkeep per node, however many are built over it (each would
        # record every test twice).
        node.on_stored[:] = [
            h for h in node.on_stored if not isinstance(getattr(h, "__self__", None), LinkTests)
        ]
        node.on_stored.append(self._stored)

    @classmethod
    def of(cls, node: NodeService) -> LinkTests:
        """The link tests whose upkeep runs on ``node`` (the node's own, with its
        settings), or new ones with the default settings when none was built.
        The console reads and answers through it: a second one built over the
        node would take the upkeep over from the node's. Raises nothing."""
        for hook in node.on_stored:
            owner = getattr(hook, "__self__", None)
            if isinstance(owner, LinkTests):
                return owner
        return cls(node)

    # -- upkeep, in the storing transaction -------------------------------------

    def _stored(self, conn: Connection, stored: Sequence[Statement]) -> None:
        tests = [st for st in stored if st.kind in LINK_TEST_KINDS]
        if not tests:
            return
        now = format_time(self.node.clock())
        heartbeat_in = False
        for st in tests:
            ours = st.sender == self.node.party
            peer = st.to if ours else st.sender
            direction = "out" if ours else "in"
            if st.kind == HEARTBEAT:
                due = format_time(st.sent_at + self.settings.heartbeat_timeout)
                store.add_test(
                    conn,
                    id=st.id,
                    peer=peer,
                    kind=st.kind,
                    direction=direction,
                    sent_at=st.time,
                    due_at=due,
                )
                heartbeat_in = heartbeat_in or not ours
            elif st.kind == OPERATOR_TEST:
                store.add_test(
                    conn,
                    id=st.id,
                    peer=peer,
                    kind=st.kind,
                    direction=direction,
                    sent_at=st.time,
                    due_at=str(st.body["answer_by"]),
                )
            else:
                self._answered(conn, st, peer=peer, ours=ours, now=now)
        if heartbeat_in and self.on_heartbeat is not None:
            self.on_heartbeat()

    @staticmethod
    def _answered(conn: Connection, st: Statement, *, peer: str, ours: bool, now: str) -> None:
        kind = _ANSWERS[st.kind]
        prior = store.answer_test(
            conn,
            test_id=str(st.body[_ANSWERED_FIELD[st.kind]]),
            peer=peer,
            # Our answer settles a test we received; the peer's, one we sent.
            direction="in" if ours else "out",
            kind=kind,
            answered_at=now,
            answer_id=st.id,
        )
        if ours or prior is None:
            return
        # The peer answered (even late): its node is reachable, and for this
        # kind somebody (or something) answers.
        alarm_store.clear_alarms(conn, kind=LinkTestAlarm.PEER_UNREACHABLE, peer=peer, now=now)
        alarm_store.clear_alarms(
            conn, kind=LinkTestAlarm.NOT_ANSWERED, peer=peer, now=now, condition=kind
        )

    # -- the ticker's work ---------------------------------------------------------

    def tick(self) -> None:
        """Reply to heartbeats received, send the tests due, settle the tests past
        their deadline. Raises what the store raises."""
        self.reply_to_heartbeats()
        self.send_due()
        self.settle_overdue()

    def reply_to_heartbeats(self) -> int:
        """Answer every heartbeat received and not yet answered, each with a
        signed ``heartbeat-reply``. Returns how many. Raises what ``send`` raises."""
        with self.node.store.read() as conn:
            owed = store.owed_replies(conn, HEARTBEAT, BATCH)
        replied = 0
        for peer, wire in owed:
            heartbeat = Statement.from_wire(wire)
            try:
                self.node.send(
                    to=peer,
                    kind=HEARTBEAT_REPLY,
                    body={"heartbeat": heartbeat.id, "nonce": str(heartbeat.body["nonce"])},
                )
            except RedlineError as exc:  # one link's trouble (say, unpinned) stops no other
                log.warning("cannot answer %s's heartbeat %s: %s", peer, heartbeat.id[:16], exc)
                continue
            replied += 1
        return replied

    def _plan(self, peer: str, own: store.Schedule | None) -> tuple[timedelta, str, str]:
        interval = self.settings.heartbeat_interval
        at, zone = self.settings.operator_test_time, self.settings.operator_test_zone
        if own is not None:
            if own.heartbeat_interval_seconds is not None:
                interval = timedelta(seconds=own.heartbeat_interval_seconds)
            at = own.operator_test_time if own.operator_test_time is not None else at
            zone = own.zone or zone
        return interval, at, zone

    def send_due(self) -> list[Statement]:
        """Send each link the heartbeat and the operator test its schedule says are
        due now. Returns what was sent. Raises what ``send`` raises."""
        now = self.node.clock()
        with self.node.store.read() as conn:
            own = store.schedules(conn)
            links = [
                (
                    p.party,
                    store.last_sent(conn, p.party, HEARTBEAT),
                    store.last_day(conn, p.party, OPERATOR_TEST),
                )
                for p in repo.list_peers(conn)
            ]
        sent: list[Statement] = []
        for peer, last_heartbeat, last_day in links:
            try:
                sent += self._send_due(peer, own.get(peer), last_heartbeat, last_day, now)
            except RedlineError as exc:  # one link's trouble stops no other
                log.warning("cannot send %s its link tests: %s", peer, exc)
        return sent

    def _send_due(
        self,
        peer: str,
        own: store.Schedule | None,
        last_heartbeat: str | None,
        last_day: str | None,
        now: datetime,
    ) -> list[Statement]:
        sent: list[Statement] = []
        interval, at, zone = self._plan(peer, own)
        last = parse_time(last_heartbeat) if last_heartbeat else None
        if heartbeat_due(last_sent=last, interval=interval, now=now):
            body = {"nonce": secrets.token_hex(8)}
            sent.append(self.node.send(to=peer, kind=HEARTBEAT, body=body))
        day = operator_test_day(
            local_now=now.astimezone(check_zone(zone)),
            at=parse_test_time(at),
            last_day=date.fromisoformat(last_day) if last_day else None,
        )
        if day is not None:
            sent.append(self._send_operator_test(peer, day, now))
        return sent

    def _send_operator_test(self, peer: str, day: date, now: datetime) -> Statement:
        body = {
            "nonce": secrets.token_hex(8),
            "answer_by": format_time(now + self.settings.operator_test_timeout),
        }
        return self.node.send(
            to=peer,
            kind=OPERATOR_TEST,
            body=body,
            then=lambda conn, st: store.set_day(conn, st.id, day.isoformat()),
        )

    def settle_overdue(self) -> int:
        """Settle every test past its deadline as unanswered. A test this node
        sent raises, per peer, ``peer-unreachable`` if no receipt came back for
        it (the transport failed) or ``not-answered`` (per kind) if one did.
        Returns how many were settled. Raises what the store raises."""
        stamp = format_time(self.node.clock())
        with self.node.store.read() as conn:
            if not store.overdue(conn, stamp, 1):
                return 0  # the common tick: no write transaction at all
        with self.node.store.write() as conn:
            late = store.overdue(conn, stamp, BATCH)
            for test in late:
                if test.direction != "out":
                    # One sent to us that we did not answer in time: shown, no alarm here.
                    store.mark_missed(conn, test.id, None)
                    continue
                why = missed_because(delivered=test.delivered)
                store.mark_missed(conn, test.id, why.value)
                alarm_store.raise_alarm(
                    conn,
                    kind=ALARM_FOR[why].value,
                    peer=test.peer,
                    condition="" if why is Missed.UNREACHABLE else test.kind,
                    message=_alarm_message(test, why),
                    now=stamp,
                )
        return len(late)

    # -- operators' acts and views --------------------------------------------------

    def answer(
        self, ref: str, *, text: str | None = None, by: dict[str, Any] | None = None
    ) -> Statement:
        """Answer the operator test ``ref`` received from a peer (its id, or its
        first 8 or more hex characters) with a signed ``operator-test-answer``,
        with ``text`` (one line) and ``by`` (the operator and office) if given.

        Raises:
            InvalidInput: ``id`` is not hex or matches several tests; ``body.text``
                or ``body.by`` is invalid.
            NotFound: no operator test received has that id.
            Conflict: the test was answered already, or its time to answer passed.
        """
        ref = ref.strip().lower()
        if not _REF.match(ref):
            raise InvalidInput(
                "must be a test id or its first 8 or more hex characters", field="id"
            )
        with self.node.store.read() as conn:
            ids = store.find_tests(conn, prefix=ref, kind=OPERATOR_TEST, direction="in")
        if not ids:
            raise NotFound(f"no operator test received with id {ref!r}", field="id")
        if len(ids) > 1:
            raise InvalidInput(
                f"{ref!r} names more than one operator test; give more of it", field="id"
            )
        test_id = ids[0]
        with self.node.store.read() as conn:
            found = store.get_test(conn, test_id)
        if found is None:  # pragma: no cover - found a moment ago, rows are never deleted
            raise NotFound(f"no link test {test_id!r}", field="id")

        def still_waiting(conn: Connection, at: datetime) -> None:
            test = store.get_test(conn, test_id)
            state = None if test is None else test["state"]
            if state == LinkTestState.ANSWERED:
                raise Conflict(f"operator test {test_id[:16]} is answered already", field="id")
            if (
                test is None
                or state == LinkTestState.UNANSWERED
                or test["due_at"] <= format_time(at)
            ):
                raise Conflict(
                    f"operator test {test_id[:16]} was missed: its time to answer passed at "
                    f"{found['due_at']}",
                    field="id",
                )

        body: dict[str, Any] = {"test": test_id}
        if text:
            body["text"] = text
        if by is not None:
            body["by"] = by
        return self.node.send(
            to=found["peer"], kind=OPERATOR_TEST_ANSWER, body=body, check=still_waiting
        )

    def _pinned(self, peer: str) -> None:
        with self.node.store.read() as conn:
            if not repo.peer_exists(conn, peer):
                raise NotFound(f"no pinned peer {peer!r}", field="peer")

    def links(self, peer: str | None = None) -> list[dict[str, Any]]:
        """Each link's (or ``peer``'s) figures for both kinds over the latest
        :data:`FIGURES_WINDOW` tests (sent, answered, missed, pending, answer
        rate, latency p50 and last in ms, last answered), the operator tests
        received awaiting an answer, the open link-test alarms, and the
        schedule in force.

        Raises:
            NotFound: ``peer`` is given and not pinned.
        """
        if peer is not None:
            self._pinned(peer)
        with self.node.store.read() as conn:
            own = store.schedules(conn)
            peers = [p.party for p in repo.list_peers(conn) if peer is None or p.party == peer]
            out = [_link(conn, p, format_time(self.node.clock())) for p in peers]
        for link in out:
            interval, at, zone = self._plan(link["peer"], own.get(link["peer"]))
            link["schedule"] = {
                "heartbeat_interval_seconds": int(interval.total_seconds()),
                "heartbeat_timeout_seconds": int(self.settings.heartbeat_timeout.total_seconds()),
                "operator_test_time": at,
                "zone": zone,
                "operator_test_timeout_seconds": int(
                    self.settings.operator_test_timeout.total_seconds()
                ),
                "own": link["peer"] in own,
            }
        return out

    def tests_page(
        self,
        *,
        peer: str | None = None,
        kind: str | None = None,
        direction: str | None = None,
        pending: bool = False,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """One page of tests, newest first: ``{"tests": [...], "next": cursor}``.

        Raises:
            InvalidInput: naming ``kind``, ``direction``, ``limit`` or ``cursor``.
        """
        check_limit(limit)
        if kind is not None and kind not in set(LinkTestKind):
            raise InvalidInput("must be heartbeat or operator-test", field="kind")
        if direction is not None and direction not in ("in", "out"):
            raise InvalidInput("must be in or out", field="direction")
        after = None
        if cursor is not None:
            at, last_id = decode_cursor(cursor, (str, str))
            after = (str(at), str(last_id))
        with self.node.store.read() as conn:
            rows = store.page(
                conn,
                peer=peer,
                kind=kind,
                direction=direction,
                pending=pending,
                after=after,
                limit=limit + 1,
            )
        more = len(rows) > limit
        rows = rows[:limit]
        last = rows[-1] if rows else None
        return {
            "tests": rows,
            "next": encode_cursor([last["sent_at"], last["id"]]) if more and last else None,
        }

    def set_schedule(
        self,
        peer: str,
        *,
        operator_test_time: str | None = None,
        zone: str | None = None,
        heartbeat_interval_seconds: int | None = None,
    ) -> dict[str, Any]:
        """Set ``peer``'s own schedule (None: the node's setting; an
        ``operator_test_time`` of ``""``: no operator test on this link) and
        return the link as :meth:`links` shows it.

        Raises:
            NotFound: ``peer`` is not pinned.
            InvalidInput: naming ``operator_test_time``, ``zone`` or
                ``heartbeat_interval_seconds``.
        """
        self._pinned(peer)
        if operator_test_time is not None:
            parse_test_time(operator_test_time)
        if zone is not None:
            check_zone(zone)
        if heartbeat_interval_seconds is not None and not (
            isinstance(heartbeat_interval_seconds, int)
            and 1 <= heartbeat_interval_seconds <= 86_400 * 7
        ):
            raise InvalidInput(
                "must be a whole number of seconds from 1 to 604800",
                field="heartbeat_interval_seconds",
            )
        with self.node.store.write() as conn:
            store.set_schedule(
                conn,
                store.Schedule(
                    peer=peer,
                    operator_test_time=operator_test_time,
                    zone=zone,
                    heartbeat_interval_seconds=heartbeat_interval_seconds,
                ),
                format_time(self.node.clock()),
            )
        return self.links(peer)[0]


def _alarm_message(test: store.Overdue, why: Missed) -> str:
    what = "heartbeat" if test.kind == HEARTBEAT else "operator test"
    if why is Missed.UNREACHABLE:
        return (
            f"peer node unreachable: {test.peer} gave no receipt for the {what} "
            f"{test.id[:16]} sent {test.sent_at} (answer due {test.due_at})"
        )
    return (
        f"reachable, nobody answered: {test.peer}'s node received the {what} "
        f"{test.id[:16]} sent {test.sent_at} and nobody answered by {test.due_at}"
    )
