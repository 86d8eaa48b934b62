"""The hotline's state, kept per thread and folded only where an act needs it.

DESIGN.md, "State: applied once, read many times": each hotline statement is
applied in the transaction that stores it — it is indexed to its thread
(:mod:`redline.core.hotline.threads`) and that one thread is folded again and
its items rewritten. An act, a received statement, the board and the
deadline ticker fold only the threads they concern, together with the few
global statements (directories, counterparts, mechanisms). What any of these
cost does not grow with the number of statements held.

The whole fold (:func:`redline.core.hotline.fold.fold` over every
statement) stays the reference; ``tests/integration/test_hotline_projection.py``
holds the two equal over random histories.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

from redline.core.errors import InvalidStatement
from redline.core.hotline import kinds as k
from redline.core.hotline.checks import IncomingCheck
from redline.core.hotline.directory import Level
from redline.core.hotline.fold import fold
from redline.core.hotline.history import PublicHistory, load_history
from redline.core.hotline.record import Record
from redline.core.hotline.threads import (
    GLOBAL_KINDS,
    MAX_THREAD_STATEMENTS,
    engagement_names,
    item_states,
    thread_names,
)
from redline.core.statement import Statement, format_time, parse_time
from redline.store import hotline as store
from redline.store.db import Connection
from redline.store.hotline import Tally

__all__ = ["HotlineState", "catalogue"]

_catalogue: PublicHistory | None = None

#: Parsed statements kept by their wire bytes (statements never change), up to
#: this many bytes of wire; the cache starts again when it is full.
_CACHE_BYTES = 64 * 1024 * 1024


def catalogue() -> PublicHistory:
    """The packaged directory of parties, offices and mechanisms (parsed once).

    Raises:
        InvalidInput: the packaged file is broken.
    """
    global _catalogue
    if _catalogue is None:
        _catalogue = load_history()
    return _catalogue


class HotlineState:
    """Partial folds over one node's store, and the projection's upkeep.

    ``history`` returns the public history loaded into the node, or None.
    """

    def __init__(self, *, history: Callable[[], PublicHistory | None]) -> None:
        self.history = history
        self._parsed: dict[bytes, Statement] = {}
        self._cached_bytes = 0

    def parse(self, wires: Iterable[bytes]) -> list[Statement]:
        """Statements from stored wire bytes (parsed once per process). Raises nothing
        for what the node stored: it was parsed before it was stored."""
        out = []
        cache = self._parsed
        for wire in wires:
            st = cache.get(wire)
            if st is None:
                if self._cached_bytes + len(wire) > _CACHE_BYTES:
                    cache.clear()
                    self._cached_bytes = 0
                st = cache[wire] = Statement.from_wire(wire)
                self._cached_bytes += len(wire)
            out.append(st)
        return out

    def _fold(self, statements: Iterable[Statement], now: datetime) -> Record:
        return fold(statements, catalogue=catalogue(), history=self.history(), now=now)

    def threads(self, conn: Connection, names: Collection[str]) -> set[str]:
        """The threads ``names`` belong to (unknown names belong to none)."""
        return set(store.threads_of(conn, names).values())

    def held(self, conn: Connection, threads: Collection[str] = ()) -> list[Statement]:
        """The global statements and those of ``threads``."""
        wires = store.thread_wires(conn, threads)
        return self.parse(store.global_wires(conn)) + [
            st for thread in sorted(wires) for st in self.parse(wires[thread])
        ]

    def fold(
        self,
        conn: Connection,
        now: datetime,
        *,
        threads: Collection[str] = (),
        names: Collection[str] = (),
    ) -> Record:
        """The record as of ``now``, folded from the global statements and those of
        ``threads`` and of the threads ``names`` belong to. Raises nothing new."""
        wanted = set(threads) | self.threads(conn, names)
        return self._fold(self.held(conn, wanted), now)

    def full(self, conn: Connection, now: datetime) -> Record:
        """The reference fold of every hotline statement held. Raises nothing new."""
        return self._fold(self.parse(store.statement_wires(conn, k.HOTLINE_KINDS)), now)

    # -- applying what is stored ---------------------------------------------------------

    def lock(self, conn: Connection) -> None:
        """Take the projection's lock for the rest of ``conn``'s transaction. The
        node takes it first in every sending and receiving transaction (its
        ``write_locks``), so that no writer holds a row lock while waiting for
        it. Raises nothing."""
        store.lock_projection(conn)

    def apply(self, conn: Connection, stored: Sequence[Statement]) -> None:
        """Index each hotline statement of ``stored`` to its thread and fold again the
        threads it changes, in the transaction that stored them. Raises nothing new."""
        hot = [st for st in stored if st.kind in k.HOTLINE_KINDS]
        if not hot:
            return
        store.lock_projection(conn)
        known = store.threads_of(conn, {n for st in hot for n in thread_names(st)})
        indexed: list[store.Indexed] = []
        touched: set[str] = set()
        global_changed = False
        for st in hot:
            names = thread_names(st)
            if not names:
                indexed.append(store.Indexed(st.id, None, st.time))
                # Arrived after statements it precedes: their threads fold it in now.
                touched.update(store.threads_after(conn, st.time))
                global_changed = True
                continue
            thread = known.get(names[0]) or next((known[n] for n in names if n in known), names[0])
            for name in names:
                known.setdefault(name, thread)
            indexed.append(store.Indexed(st.id, thread, st.time, names))
            touched.add(thread)
        store.index_statements(conn, indexed)
        if global_changed:
            self._refold_globals(conn)
        self.refold(conn, touched)

    def refold(self, conn: Connection, threads: Collection[str]) -> None:
        """Fold each of ``threads`` again and rewrite its items. Raises nothing new."""
        if not threads:
            return
        globals_ = self.parse(store.global_wires(conn))
        states = []
        for thread, wires in sorted(store.thread_wires(conn, threads).items()):
            own = self.parse(wires)
            if not own:
                continue
            last = max(s.time for s in own)
            record = self._fold(globals_ + own, parse_time(last))
            ids = {s.id for s in own}
            states.append(
                store.ThreadState(
                    thread=thread,
                    last_time=last,
                    items=item_states(record),
                    refused={
                        r.statement_id: r.reason for r in record.refused if r.statement_id in ids
                    },
                    statement_ids=ids,
                )
            )
        store.save_threads(conn, states)

    def _refold_globals(self, conn: Connection) -> None:
        held = self.parse(store.global_wires(conn))
        if not held:
            return
        record = self._fold(held, max(s.sent_at for s in held))
        refused = {r.statement_id: r.reason for r in record.refused}
        store.save_refusals(conn, {s.id: refused.get(s.id) for s in held})

    def refold_all(self, conn: Connection) -> int:
        """Fold every thread and the global statements again (the public history,
        which every fold reads, has changed); return how many threads. Raises
        nothing new."""
        store.lock_projection(conn)
        store.mark_all_stale(conn)
        self._refold_globals(conn)
        return self.refresh_stale(conn)

    def threads_stale(self, conn: Connection) -> list[str]:
        """Threads a migration indexed and no node has folded yet."""
        return store.stale_threads(conn)

    def refresh_stale(self, conn: Connection) -> int:
        """Fold the threads a migration indexed but did not fold; return how many."""
        stale = store.stale_threads(conn)
        if stale:
            self._refold_globals(conn)
        for start in range(0, len(stale), 500):
            self.refold(conn, stale[start : start + 500])
        return len(stale)

    # -- what the board and the ticker read ----------------------------------------------

    def due_threads(self, conn: Connection, now: datetime, *, party: str) -> list[str]:
        """Threads where one of ``party``'s requests lapses or calls rings out by ``now``."""
        return store.open_threads(conn, due_by=format_time(now), from_party=party)

    def board_threads(self, conn: Connection, now: datetime, *, recent: int) -> set[str]:
        """The threads the board shows: every open one, the ``recent`` requests and calls
        and the ``recent`` readouts and summaries acted on last, and the latest contact
        at each level."""
        threads = set(store.open_threads(conn))
        threads.update(store.recent_threads(conn, ("request", "call"), recent))
        threads.update(store.recent_threads(conn, ("readout", "summary"), recent))
        directory = self._fold(self.parse(store.global_wires(conn)), now).directory
        stamp = format_time(now)
        for level in Level:
            offices = [o.id for o in directory.offices if o.level is level]
            threads.update(store.latest_contact_threads(conn, offices, stamp))
        return threads

    def closed_tallies(self, conn: Connection, *, exclude: Collection[str]) -> list[Tally]:
        """Closed requests and calls outside ``exclude``, counted by addressee and state."""
        return store.closed_tallies(conn, exclude=exclude)

    def recent_refused(self, conn: Connection, limit: int) -> list[dict[str, Any]]:
        """The ``limit`` latest statements the fold gave no effect, newest first."""
        out = []
        for wire, reason in store.recent_refused(conn, limit):
            (st,) = self.parse([wire])
            out.append(
                {
                    "statement_id": st.id,
                    "kind": st.kind,
                    "from": st.sender,
                    "to": st.to,
                    "at": st.time,
                    "reason": reason,
                }
            )
        return out

    # -- receiving -------------------------------------------------------------------------

    def check_incoming(self, conn: Connection, fresh: Sequence[Statement]) -> None:
        """Refuse a batch from a peer if one of its hotline statements breaks a rule,
        judged against the threads it concerns (and what came before it in the batch).

        Raises:
            InvalidStatement: naming ``body.<field>`` (see
                :func:`redline.core.hotline.checks.check_incoming`).
        """
        hot = [st for st in fresh if st.kind in k.HOTLINE_KINDS]
        if not hot:
            return  # messages, heartbeats: nothing to fold (and no query on the hot path)
        store.lock_projection(conn)
        globals_ = self.parse(store.global_wires(conn))
        names = {n for st in hot for n in thread_names(st) + engagement_names(st)}
        known = store.threads_of(conn, names)
        loaded = {
            thread: self.parse(wires)
            for thread, wires in store.thread_wires(conn, set(known.values())).items()
        }
        mine = [s.id for held in loaded.values() for s in held] + [s.id for s in globals_]
        acked = {
            sid: parse_time(time)
            for sid, time in store.acknowledged_times(conn, hot[0].sender, mine).items()
        }
        held_all = [*globals_, *(s for held in loaded.values() for s in held), *hot]
        as_of = max(s.sent_at for s in held_all)
        # One fold per set of threads for the whole batch, each statement applied
        # on top of it: a batch into a long thread costs one fold, not one each.
        checks: dict[frozenset[str], IncomingCheck] = {}
        history = self.history()
        for st in hot:
            own = thread_names(st)
            threads = frozenset(known[n] for n in own + engagement_names(st) if n in known)
            check = checks.get(threads)
            if check is None:
                held = globals_ + [s for t in sorted(threads) for s in loaded.get(t, [])]
                check = checks[threads] = IncomingCheck(
                    held, catalogue=catalogue(), history=history, acknowledged=acked, as_of=as_of
                )
            check.check(st)
            if st.kind in GLOBAL_KINDS or not own:
                for key, other in checks.items():
                    if key != threads:
                        other.absorb(st)
                globals_ = globals_ + [st]
                continue
            thread = known.get(own[0]) or next((known[n] for n in own if n in known), own[0])
            if len(loaded.get(thread, ())) >= MAX_THREAD_STATEMENTS:
                raise InvalidStatement(
                    f"{thread} holds {MAX_THREAD_STATEMENTS} statements, the most one "
                    "engagement takes; start another",
                    field="body",
                )
            for n in own:
                known.setdefault(n, thread)
            loaded.setdefault(thread, []).append(st)
            for key, other in checks.items():
                if thread in key and key != threads:
                    other.absorb(st)
