"""Hotline nodes joined in memory: any number of parties, any pairing, a test clock.

Statements and receipts are carried between the services by direct calls, the
way the link would carry them, so a test chooses the order in which each
pair's traffic arrives.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from redline.core.statement import Statement
from redline.node import init_node
from redline.service.hotline import HotlineService
from redline.service.node import NodeService
from redline.store import repo
from redline.store.db import Store, open_store
from redline.store.schema import statements

START = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)

NAMES = {"us": "US DoD", "prc": "PRC MND", "jp": "Japan MOD"}


class Clock:
    """Moves one millisecond per read; ``advance`` jumps."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@dataclass
class Side:
    node: NodeService
    hotline: HotlineService
    store: Store

    @property
    def party(self) -> str:
        return self.node.party

    def count(self) -> int:
        with self.store.read() as conn:
            return int(conn.execute(select(func.count()).select_from(statements)).scalar_one())


@contextmanager
def hotline_sides(
    tmp_path: Path,
    clock: Clock,
    parties: Iterable[str] = ("us", "prc"),
    pairs: Iterable[tuple[str, str]] | None = None,
    databases: dict[str, str] | None = None,
) -> Iterator[dict[str, Side]]:
    """One node per party, each pair in ``pairs`` (default: every pair) pinned both ways;
    SQLite unless ``databases`` gives a party's URL."""
    parties = list(parties)
    made: dict[str, Side] = {}
    dirs = {}
    try:
        for party in parties:
            d = init_node(
                tmp_path / party,
                party=party,
                name=NAMES.get(party, party.upper()),
                now=START,
                database=(databases or {}).get(party, ""),
            )
            store = open_store(d.database_url)
            node = NodeService(party=party, signing_key=d.signing_key(), store=store, clock=clock)
            dirs[party] = d
            made[party] = Side(
                node=node, hotline=HotlineService(node, name=d.config.name), store=store
            )
        wanted = (
            list(pairs)
            if pairs is not None
            else [(a, b) for i, a in enumerate(parties) for b in parties[i + 1 :]]
        )
        for a, b in wanted:
            for x, y in ((a, b), (b, a)):
                with made[x].store.write() as conn:
                    repo.add_peer(conn, dirs[y].identity(), "https://peer.test:8443", "t")
        yield made
    finally:
        for side in made.values():
            side.store.dispose()


def carry(a: Side, b: Side, limit: int = 1000) -> int:
    """Deliver up to ``limit`` of ``a``'s outbox to ``b`` and bring the receipts back."""
    wires = a.node.due(b.party, limit)
    if not wires:
        return 0
    result = b.node.receive(a.party, [Statement.from_wire(w) for w in wires])
    a.node.take_receipts(b.party, [Statement.from_wire(w) for w in result.receipts])
    return len(wires)


def sync(*sides: Side) -> None:
    """Carry everything between every two of ``sides`` that are paired, until quiet."""
    moved = True
    while moved:
        moved = False
        for a in sides:
            for b in sides:
                if a is not b and b.party in {p.party for p in a.node.peers()}:
                    moved = carry(a, b) > 0 or moved
