"""The projection the node keeps per thread equals the reference fold of everything.

Random histories between three parties (us paired with prc and with jp; prc
and jp not paired): requests answered, declined, countered, withdrawn or left
to lapse; calls answered, declined, ended, missed, with messages; readouts
and joint summaries; mechanism suspensions; directory amendments. Each pair's
traffic is carried in random slices, so acts cross on the wire (a withdrawal
and an acceptance, a hang-up and a message) wherever the protocol lets them.
After the history, on every node:

- every hotline statement is indexed to a thread, and each thread's stored
  items are what folding that thread afresh gives;
- folding any one thread (with the global statements) gives the same items
  as the reference fold of every statement, at the same moment;
- the statements the fold refuses are the ones the projection marks refused;
- the board read from the projection agrees with the board of the reference
  fold: open requests, tallies, last contact per level, mechanisms.
"""

from __future__ import annotations

import random
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from redline.core.errors import RedlineError
from redline.core.hotline import kinds as k
from redline.core.hotline.mechanism import pair_hotline_id
from redline.core.hotline.threads import item_states
from redline.core.statement import parse_time
from redline.service.hotline_views import board_view
from redline.store.schema import hotline_items, hotline_statements, hotline_threads, statements
from support.hotline import Clock, Side, carry, hotline_sides, sync

OFFICES = {
    "us": ["us-secdef", "us-dasd-china"],
    "prc": ["prc-mnd", "prc-oimc-deputy"],
    "jp": ["jp-mod", "jp-jso"],
}
PAIRS = [("us", "prc"), ("us", "jp")]


def _peers(party: str) -> list[str]:
    return sorted({b for a, b in PAIRS if a == party} | {a for a, b in PAIRS if b == party})


def _mechanism(a: str, b: str) -> str:
    return "dtl" if {a, b} == {"us", "prc"} else pair_hotline_id(a, b)


def _window(clock: Clock, hours: int) -> object:
    from redline.core.hotline.requests import Window

    start = clock.now.replace(microsecond=0) + timedelta(hours=hours)
    return Window(start=start, end=start + timedelta(hours=1))


class History:
    """Random acts by three parties, mostly by the party entitled to act (one in ten
    by another); acts refused before signing store nothing."""

    def __init__(self, sides: dict[str, Side], clock: Clock, rng: random.Random) -> None:
        self.sides = sides
        self.clock = clock
        self.rng = rng
        #: item id -> (the party that made it, the other party)
        self.requests: dict[str, tuple[str, str]] = {}
        self.calls: dict[str, tuple[str, str]] = {}
        self.summaries: dict[str, tuple[str, str]] = {}

    def side(self, entitled: str) -> Side:
        if self.rng.random() < 0.1:
            return self.sides[self.rng.choice(sorted(self.sides))]
        return self.sides[entitled]

    def pick(self, items: dict[str, tuple[str, str]]) -> tuple[str, str, str] | None:
        if not items:
            return None
        # In the order they were made: ids are random, the history must not be.
        ident = self.rng.choice(list(items))
        return ident, *items[ident]

    def step(self) -> None:
        act = self.rng.choice(
            [self.request] * 3
            + [self.respond] * 3
            + [self.withdraw, self.call, self.call]
            + [self.call_event] * 3
            + [self.say, self.readout, self.summary, self.sign, self.mechanism]
            + [self.wait] * 2
            + [self.due]
            + [self.carry] * 8
        )
        if self.rng.random() < 0.02:
            act = self.office
        try:
            act()
        except RedlineError:
            pass  # refused before signing: nothing stored

    def request(self) -> None:
        a, b = self.rng.choice(PAIRS)
        if self.rng.random() < 0.5:
            a, b = b, a
        st_ = self.sides[a].hotline.request(
            from_office=self.rng.choice(OFFICES[a]),
            to_office=self.rng.choice(OFFICES[b]),
            mechanism=_mechanism(a, b),
            mode=self.rng.choice(["call", "video", "meeting"]),
            windows=[_window(self.clock, 2), _window(self.clock, 5)],  # type: ignore[list-item]
            deadline=self.clock.now + timedelta(minutes=self.rng.randint(1, 40)),
        )
        self.requests[str(st_.body["id"])] = (a, b)

    def respond(self) -> None:
        picked = self.pick(self.requests)
        if picked is None:
            return
        rid, a, b = picked
        side = self.side(b)
        req = side.hotline.record().requests.get(rid)
        if req is None:
            return
        how = self.rng.choice(["accept", "accept", "decline", "counter"])
        if how == "accept":
            side.hotline.respond(rid, accept=self.rng.choice(req.windows))
        elif how == "decline":
            side.hotline.respond(rid, decline="Not now")
        else:
            st_ = side.hotline.respond(
                rid,
                counter_office=self.rng.choice(OFFICES[side.party]),
                counter_windows=[_window(self.clock, 8)],  # type: ignore[list-item]
                counter_deadline=self.clock.now + timedelta(minutes=self.rng.randint(1, 40)),
            )
            self.requests[str(st_.body["counter"]["id"])] = (b, a)

    def withdraw(self) -> None:
        picked = self.pick(self.requests)
        if picked is not None:
            self.side(picked[1]).hotline.withdraw(picked[0], reason="Overtaken")

    def call(self) -> None:
        a, b = self.rng.choice(PAIRS)
        if self.rng.random() < 0.5:
            a, b = b, a
        st_ = self.sides[a].hotline.place_call(
            from_office=self.rng.choice(OFFICES[a]),
            to_office=self.rng.choice(OFFICES[b]),
            mechanism=_mechanism(a, b),
            ring_timeout=self.rng.randint(30, 3600),
        )
        self.calls[str(st_.body["id"])] = (a, b)

    def call_event(self) -> None:
        picked = self.pick(self.calls)
        if picked is None:
            return
        cid, a, b = picked
        action = self.rng.choice(["answer", "answer", "decline", "end", "end"])
        entitled = b if action != "end" else self.rng.choice([a, b])
        self.side(entitled).hotline.call_event(cid, action)

    def say(self) -> None:
        picked = self.pick(self.calls)
        if picked is not None:
            self.side(self.rng.choice(picked[1:])).hotline.say(picked[0], "Received.")

    def readout(self) -> None:
        picked = self.pick(self.requests | self.calls)
        if picked is not None:
            side = self.side(self.rng.choice(picked[1:]))
            side.hotline.file_readout(picked[0], "Frank and useful.")

    def summary(self) -> None:
        picked = self.pick(self.requests | self.calls)
        if picked is not None:
            ident, a, b = picked
            side = self.side(self.rng.choice([a, b]))
            st_ = side.hotline.propose_joint_summary(ident, "Both spoke.")
            self.summaries[str(st_.body["id"])] = (side.party, b if side.party == a else a)

    def sign(self) -> None:
        picked = self.pick(self.summaries)
        if picked is not None:
            self.side(picked[2]).hotline.sign_joint_summary(picked[0])

    def mechanism(self) -> None:
        side = self.sides[self.rng.choice(["us", "prc"])]
        status = self.rng.choice(["suspended", "resumed"])
        side.hotline.set_mechanism(mechanism="mmca", status=status, reason="Tension")

    def office(self) -> None:
        side = self.sides[self.rng.choice(sorted(self.sides))]
        n = self.rng.randint(1, 10_000)
        side.hotline.add_office(
            f"{side.party}-desk-{n}", level="working_level", title_en="Desk", title_zh="处"
        )

    def wait(self) -> None:
        self.clock.advance(seconds=self.rng.choice([1, 5, 30, 120, 600, 1800]))

    def due(self) -> None:
        self.sides[self.rng.choice(sorted(self.sides))].hotline.record_due()

    def carry(self) -> None:
        a, b = self.rng.choice(PAIRS)
        if self.rng.random() < 0.5:
            a, b = b, a
        carry(self.sides[a], self.sides[b], limit=self.rng.randint(1, 8))


def _assert_projection_is_the_fold(side: Side, now: datetime) -> None:
    state = side.hotline.state
    with side.store.read() as conn:
        held = conn.execute(
            select(func.count())
            .select_from(statements)
            .where(statements.c.kind.in_(k.HOTLINE_KINDS), statements.c.stream == "main")
        ).scalar_one()
        indexed = conn.execute(select(func.count()).select_from(hotline_statements)).scalar_one()
        assert indexed == held, "a hotline statement is not indexed"
        full = state.full(conn, now)
        reference = {i.name: i for i in item_states(full)}
        seen: set[str] = set()
        for thread, last in conn.execute(
            select(hotline_threads.c.thread, hotline_threads.c.last_time)
        ):
            stored = {
                row.name: (row.state, row.open, row.due_at, row.contact_at)
                for row in conn.execute(
                    select(hotline_items).where(hotline_items.c.thread == thread)
                )
            }
            afresh = item_states(state.fold(conn, parse_time(last), threads=[thread]))
            assert stored == {
                i.name: (
                    i.state,
                    i.open,
                    i.due_at and i.due_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    i.contact_at and i.contact_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                )
                for i in afresh
            }, f"{side.party}: stored items of {thread} are stale"
            for item in item_states(state.fold(conn, now, threads=[thread])):
                assert item == reference[item.name], f"{side.party}: {item.name} differs"
                seen.add(item.name)
        assert seen == set(reference), f"{side.party}: items missing from the projection"
        refused = {
            row.statement_id
            for row in conn.execute(
                select(hotline_statements.c.statement_id).where(
                    hotline_statements.c.refused.is_not(None)
                )
            )
        }
        assert refused == {r.statement_id for r in full.refused}
    projected = side.hotline.board()
    expected = board_view(side.hotline.record(now), party=side.party)
    for key in ("open_requests", "levels", "mechanisms"):
        assert projected[key] == expected[key], f"{side.party}: board {key} differs"
    assert sorted(projected["tallies"], key=str) == sorted(expected["tallies"], key=str)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1), steps=st.integers(40, 160))
def test_projection_equals_the_reference_fold(seed: int, steps: int) -> None:
    rng = random.Random(seed)
    clock = Clock()
    with tempfile.TemporaryDirectory() as tmp:
        with hotline_sides(Path(tmp), clock, ("us", "prc", "jp"), PAIRS) as sides:
            sides["jp"].hotline.add_office(
                "jp-mod",
                level="defence_minister",
                title_en="Minister of Defense",
                title_zh="防卫大臣",
                time_zone="Asia/Tokyo",
            )
            sides["jp"].hotline.add_office(
                "jp-jso",
                level="chief_of_defence",
                title_en="Chief of Staff, Joint Staff",
                title_zh="统合幕僚长",
            )
            sync(*sides.values())
            history = History(sides, clock, rng)
            for _ in range(steps):
                history.step()
            for midway in (True, False):
                if not midway:
                    sync(*sides.values())
                frozen = clock.now
                for side in sides.values():
                    side.node.clock = lambda frozen=frozen: frozen  # type: ignore[misc]
                    _assert_projection_is_the_fold(side, frozen)
                    side.node.clock = clock


def test_a_database_from_before_the_projection_is_indexed_and_folded(tmp_path: Path) -> None:
    """A node whose database is at revision 0003 (the schema before the projection:
    the same tables, none of the hotline_* ones) gets its hotline statements
    indexed by migration 0004, and its threads folded when the node starts."""
    from alembic import command
    from sqlalchemy import inspect

    from redline.service.hotline import HotlineService
    from redline.store.db import open_store
    from redline.store.migrate import alembic_config

    clock = Clock()
    with hotline_sides(tmp_path, clock, ("us", "prc", "jp"), PAIRS) as sides:
        sides["jp"].hotline.add_office(
            "jp-mod", level="defence_minister", title_en="Minister", title_zh="大臣"
        )
        sync(*sides.values())
        history = History(sides, clock, random.Random(7))
        for _ in range(120):
            history.step()
        sync(*sides.values())
        us = sides["us"]
        before = us.hotline.board()
        url = us.store.url
        # Back to revision 0003 through the migrations' own downgrades: the
        # statements stay, the projection's tables go.
        config = alembic_config()
        with us.store._write_engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0003")
        with us.store.read() as conn:
            tables = set(inspect(conn).get_table_names())
        assert not {t for t in tables if t.startswith("hotline_")}
        us.store.dispose()

        store = open_store(url)  # migrates to head: 0004 indexes what is held
        try:
            with store.read() as conn:
                stale = conn.execute(
                    select(func.count()).select_from(hotline_threads).where(hotline_threads.c.stale)
                ).scalar_one()
            assert stale > 10
            us.node.store = store
            us.store = store
            us.node.on_stored.clear()
            us.node.receive_checks[1:] = []
            us.hotline = HotlineService(us.node)  # folds the stale threads
            with store.read() as conn:
                assert not us.hotline.state.threads_stale(conn)
            frozen = clock.now
            us.node.clock = lambda: frozen
            _assert_projection_is_the_fold(us, frozen)
            after = us.hotline.board()
            for key in ("open_requests", "tallies", "levels", "requests", "calls"):
                assert after[key] == before[key], key
        finally:
            store.dispose()


def test_loading_the_history_folds_every_thread_again(tmp_path: Path) -> None:
    """The public history is part of what every fold reads (its mechanism events,
    its record ids): loading it must not leave the projection behind the fold."""
    from redline.service.hotline import HotlineService

    clock = Clock()
    with hotline_sides(tmp_path, clock, ("us", "prc", "jp"), PAIRS) as sides:
        us = sides["us"]
        sides["jp"].hotline.add_office(
            "jp-mod", level="defence_minister", title_en="Minister", title_zh="大臣"
        )
        # Before the history, dtl has no status: us may declare it active.
        us.hotline.set_mechanism(mechanism="dtl", status="active", reason="In use")
        sync(*sides.values())
        history = History(sides, clock, random.Random(11))
        for _ in range(60):
            history.step()
        sync(*sides.values())
        us.hotline = HotlineService(us.node, node_path=tmp_path / "us")
        us.hotline.load_history()  # the history has dtl active by us since 2021
        frozen = clock.now
        us.node.clock = lambda: frozen
        _assert_projection_is_the_fold(us, frozen)
        refused = {r["kind"] for r in us.hotline.board()["refused"]}
        assert "mechanism-status" in refused
