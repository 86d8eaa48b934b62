"""Two nodes joined in memory, like h11's ConnectionPair: no sockets, a test clock.

Statements, receipts, checkpoints and inclusion proofs are carried between
the two services by direct calls, the way the link would carry them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from redline.core.statement import Statement, format_time
from redline.node import NodeDir, init_node
from redline.service.node import NodeService
from redline.service.record import RecordService
from redline.store import repo
from redline.store.db import Store, open_store


class TestClock:
    """A clock a test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 22, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class MemoryNode:
    dir: NodeDir
    store: Store
    service: NodeService
    record: RecordService

    @property
    def party(self) -> str:
        return self.service.party


class MemoryPair:
    """Two paired nodes, US and PRC, in one process."""

    def __init__(self, root: Path, clock: TestClock | None = None) -> None:
        self.clock = clock or TestClock()
        self.us = self._node(root / "us", "us", "US Department of Defense")
        self.prc = self._node(root / "prc", "prc", "PRC Ministry of National Defense")
        stamp = format_time(self.clock())
        for a, b in ((self.us, self.prc), (self.prc, self.us)):
            with a.store.write() as conn:
                repo.add_peer(conn, b.dir.identity(), "https://127.0.0.1:1", stamp)
        self.us.record.fetch_leaves = self._fetcher(self.prc)
        self.prc.record.fetch_leaves = self._fetcher(self.us)

    def _node(self, path: Path, party: str, name: str) -> MemoryNode:
        node_dir = init_node(path, party=party, name=name, now=self.clock())
        store = open_store(node_dir.database_url)
        service = NodeService(
            party=party, signing_key=node_dir.signing_key(), store=store, clock=self.clock
        )
        record = RecordService(
            node=service,
            log_signer=node_dir.log_signer(),
            witness_signer=node_dir.witness_signer(),
        )
        return MemoryNode(node_dir, store, service, record)

    @staticmethod
    def _fetcher(log: MemoryNode):  # type: ignore[no-untyped-def]
        # The witness asks ``log`` for leaf records of its own log.
        def fetch(peer: str, start: int, end: int) -> list[bytes]:
            assert peer == log.party
            return log.record.leaves_for(start, end)

        return fetch

    def other(self, node: MemoryNode) -> MemoryNode:
        return self.prc if node is self.us else self.us

    def deliver(self) -> None:
        """Carry every queued statement both ways, with receipts."""
        for sender in (self.us, self.prc):
            receiver = self.other(sender)
            while wires := sender.service.due(receiver.party, 256):
                batch = [Statement.from_wire(w) for w in wires]
                result = receiver.service.receive(sender.party, batch)
                receipts = [Statement.from_wire(w) for w in result.receipts]
                sender.service.take_receipts(receiver.party, receipts)

    def witness(self) -> None:
        """Each node signs a checkpoint and gets the other's cosignature."""
        for log in (self.us, self.prc):
            witness = self.other(log)
            log.record.checkpoint_if_due(every=1, interval=0)
            request = log.record.add_checkpoint_body(witness.party)
            if request is None:
                continue
            checkpoint_id, body = request
            lines = witness.record.add_checkpoint(log.party, body)
            log.record.store_cosignatures(witness.party, checkpoint_id, lines)

    def close(self) -> None:
        self.us.store.dispose()
        self.prc.store.dispose()
