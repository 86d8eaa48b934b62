"""The cosigned record: checkpoints of this node's log, and witnessing the peers' logs.

Log side: every ``checkpoint_every`` statements or ``checkpoint_interval``
seconds the node signs a C2SP checkpoint of its log and asks each peer to
cosign it, following C2SP tlog-witness's add-checkpoint (old size +
consistency proof).

Witness side (:meth:`RecordService.add_checkpoint`): the node checks the
log's signature, the old size against the last size it cosigned (409 with
its size otherwise), the consistency proof (422), and that every statement
the peer addressed to it is in the log, by fetching an inclusion proof for
each one not yet proven. A peer that shows two different checkpoints for one
size, or a proof that does not connect, is caught equivocating: the node
refuses, keeps both signed checkpoints as evidence and raises an alarm.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from redline.core import merkle
from redline.core.checkpoint import (
    Checkpoint,
    check_no_equivocation,
    open_checkpoint,
    sign_checkpoint,
)
from redline.core.errors import (
    Conflict,
    Equivocation,
    InvalidInput,
    InvalidProof,
    NotFound,
    RedlineError,
    RemoteError,
    VerificationError,
)
from redline.core.leaf import LeafFields, check_leaf, parse_leaf
from redline.core.note import CosignatureSigner, Signer, Verifier, append_signatures, split_note
from redline.core.statement import Statement, format_time, parse_time
from redline.core.witness_wire import (
    BadWitnessRequest,
    WitnessSizeMismatch,
    find_cosignature,
    format_add_checkpoint,
    log_signed_note,
    parse_add_checkpoint,
    unverified_checkpoint,
)
from redline.service.node import NodeService
from redline.store import alarms, logs, peers
from redline.store import record as stored
from redline.store.db import Connection
from redline.store.record import StoredCheckpoint

__all__ = [
    "BadWitnessRequest",
    "LeafFetcher",
    "RecordService",
    "StoredCheckpoint",
    "WitnessSizeMismatch",
]

# (peer, start, end) -> the peer log's leaf records [start, end)
LeafFetcher = Callable[[str, int, int], list[bytes]]
LEAF_CHUNK = 1000
# A statement the log's own later leaves run past, by this much, was left out.
OMISSION_SLACK = timedelta(seconds=60)


class RecordService:
    """Checkpoints, cosignatures and witnessing for one node."""

    def __init__(
        self,
        *,
        node: NodeService,
        log_signer: Signer,
        witness_signer: CosignatureSigner,
        fetch_leaves: LeafFetcher | None = None,
    ) -> None:
        self.node = node
        self.origin = log_signer.name
        self._log_signer = log_signer
        self._witness_signer = witness_signer
        self.fetch_leaves = fetch_leaves

    @property
    def party(self) -> str:
        return self.node.party

    # -- queries ------------------------------------------------------------------

    def latest_checkpoint(
        self, party: str | None = None, *, cosigned_by: str | None = None
    ) -> StoredCheckpoint | None:
        """The largest checkpoint of ``party``'s log (this node's by default)."""
        with self.node.store.read() as conn:
            return stored.latest_checkpoint(conn, party or self.party, cosigned_by=cosigned_by)

    def latest_cosigned_by_all(self, witnesses: Sequence[str]) -> StoredCheckpoint | None:
        """The largest checkpoint of this node's log that every one of ``witnesses``
        cosigned."""
        with self.node.store.read() as conn:
            return stored.latest_cosigned_by_all(conn, self.party, witnesses)

    def cosignature_lines(self, checkpoint_id: int) -> list[str]:
        """The stored cosignature lines of a checkpoint."""
        with self.node.store.read() as conn:
            return stored.cosignature_lines(conn, checkpoint_id)

    def cosigned_note(self, checkpoint: StoredCheckpoint) -> bytes:
        """The checkpoint note with every stored cosignature appended."""
        lines = [line.encode() for line in self.cosignature_lines(checkpoint.id)]
        return append_signatures(checkpoint.note.encode(), lines)

    # -- the log side ----------------------------------------------------------------

    def checkpoint_if_due(self, *, every: int, interval: float) -> StoredCheckpoint | None:
        """Sign a checkpoint if ``every`` leaves were added or ``interval`` seconds
        passed since the last one (and the log grew). Returns it, or None."""
        now = self.node.clock()
        with self.node.store.write() as conn:
            size = logs.log_size(conn)
            last = stored.latest_checkpoint(conn, self.party)
            if last is not None:
                grown = size - last.size
                age = (now - parse_time(last.created_at)).total_seconds()
                if grown <= 0 or (grown < every and age < interval):
                    return None
            elif size == 0:
                return None
            root = merkle.tree_hash(size, logs.DbHashReader(conn))
            checkpoint = Checkpoint(self.origin, size, root)
            note = sign_checkpoint(checkpoint, self._log_signer).decode()
            created_at = format_time(now)
            checkpoint_id = stored.insert_checkpoint(
                conn, party=self.party, size=size, root_hash=root, note=note, created_at=created_at
            )
            return StoredCheckpoint(checkpoint_id, self.party, size, root, note, created_at)

    def add_checkpoint_body(self, peer: str, *, old: int | None = None) -> tuple[int, bytes] | None:
        """The add-checkpoint request for ``peer`` (checkpoint id, body), or None
        when ``peer`` already cosigned this node's latest checkpoint."""
        with self.node.store.read() as conn:
            latest = stored.latest_checkpoint(conn, self.party)
            if latest is None:
                return None
            cosigned = stored.latest_checkpoint(conn, self.party, cosigned_by=peer)
            if cosigned is not None and cosigned.id == latest.id:
                return None
            if old is None:
                old = cosigned.size if cosigned is not None else 0
            size = latest.size
            if old > size:
                raise RemoteError(f"witness {peer!r} claims size {old} beyond this log ({size})")
            reader = logs.DbHashReader(conn)
            proof = merkle.prove_tree(size, old, reader) if 0 < old < size else []
        return latest.id, format_add_checkpoint(old, proof, latest.note.encode())

    def store_cosignatures(self, peer: str, checkpoint_id: int, response: bytes) -> int:
        """Verify ``peer``'s cosignature lines on our checkpoint and store them.

        Returns the cosignature timestamp. Raises :class:`VerificationError`
        if no line is a valid cosignature by the peer's pinned witness key.
        """
        witness = Verifier.parse(self.node.peer(peer).identity.witness_vkey)
        with self.node.store.read() as conn:
            checkpoint = stored.checkpoint_by_id(conn, checkpoint_id)
        text, _ = split_note(checkpoint.note.encode())
        line, timestamp = find_cosignature(response, text.encode(), witness, peer)
        with self.node.store.write() as conn:
            if stored.cosignature_line(conn, checkpoint_id, peer) is None:
                stored.add_cosignature(
                    conn, checkpoint_id=checkpoint_id, witness=peer, line=line, timestamp=timestamp
                )
        return timestamp

    def leaves_for(self, start: int, end: int) -> list[bytes]:
        """Leaf records [start, end) of this node's log, for a witness's copy.

        Raises :class:`InvalidInput` for a range outside the log or over
        ``LEAF_CHUNK`` leaves.
        """
        with self.node.store.read() as conn:
            size = logs.log_size(conn)
            if not 0 <= start < end <= size:
                raise InvalidInput(f"range must lie within [0, {size})", field="start")
            if end - start > LEAF_CHUNK:
                raise InvalidInput(f"at most {LEAF_CHUNK} leaves at a time", field="end")
            return logs.leaves_between(conn, start, end)

    # -- the witness side ------------------------------------------------------------

    def add_checkpoint(self, peer: str, body: bytes) -> bytes:
        """tlog-witness add-checkpoint for ``peer``'s log; returns cosignature lines.

        Beyond tlog-witness, this witness keeps a copy of the whole log: it
        fetches the new leaf records, recomputes the root, and checks that
        every statement the peer sent it is in the log (or is newer than the
        log's last leaf).

        Raises :class:`BadWitnessRequest` (400) for a malformed body or old >
        size, :class:`NotFound` (404) for a checkpoint of another origin,
        :class:`InvalidNote` (403) when the log signature does not verify,
        :class:`WitnessSizeMismatch` (409) when ``old`` is not the size last
        cosigned, :class:`Equivocation` (409) for a second root at one size,
        :class:`InvalidProof` (422) for a consistency proof that does not
        verify, leaves that do not hash to the checkpoint, or a statement sent
        to this node that the log left out.
        """
        old, proof, note = parse_add_checkpoint(body)
        if old == 0 and proof:
            raise BadWitnessRequest("the proof must be empty when the old size is 0", field="proof")
        identity = self.node.peer(peer).identity
        log_key = Verifier.parse(identity.log_vkey)
        checkpoint = unverified_checkpoint(note)
        if checkpoint.origin != log_key.name:
            raise NotFound(f"unknown origin {checkpoint.origin!r}", field="origin")
        open_checkpoint(note, log=log_key)  # 403 when the log signature fails
        if old > checkpoint.size:
            raise BadWitnessRequest(f"old size {old} is beyond the checkpoint size", field="old")
        if old == checkpoint.size and proof:
            raise BadWitnessRequest(
                "the proof must be empty when the old size is the checkpoint size", field="proof"
            )
        now = self.node.clock()
        stamp = format_time(now)
        try:
            # The cheap checks first, before fetching leaves; repeated atomically below.
            with self.node.store.read() as conn:
                self._check_sizes(conn, peer, old, proof, checkpoint)
                held = logs.peer_log_size(conn, peer)
            records = self._fetch_leaves(peer, held, checkpoint.size)
            return self._cosign(peer, old, proof, checkpoint, note, held, records, now)
        except _Caught as caught:
            with self.node.store.write() as conn:
                seen = alarms.raise_alarm(
                    conn,
                    kind="equivocation",
                    peer=peer,
                    condition=caught.condition,
                    message=f"{peer}'s log {caught.why} (size {checkpoint.size}); "
                    "refused to cosign",
                    now=stamp,
                    evidence=json.dumps({"cosigned": caught.kept, "shown": note.decode()}),
                )
                if seen == 1:
                    # Keep the signed note that contradicts what we cosigned: it is
                    # the proof. Once per condition: a peer repeating the fault (or
                    # retrying the same checkpoint) only bumps the alarm's count.
                    self._store_peer_checkpoint(conn, peer, checkpoint, note, stamp)
            raise caught.error from None

    def _check_sizes(
        self, conn: Connection, peer: str, old: int, proof: list[bytes], checkpoint: Checkpoint
    ) -> StoredCheckpoint | None:
        """tlog-witness's checks of ``old`` and the consistency proof; returns the
        latest checkpoint this node cosigned for ``peer`` (or None)."""
        self._check_against_history(conn, peer, checkpoint)
        latest = stored.latest_checkpoint(conn, peer, cosigned_by=self.party)
        latest_size = latest.size if latest is not None else 0
        if old != latest_size:
            raise WitnessSizeMismatch(
                f"this witness last cosigned size {latest_size}, not {old}", size=latest_size
            )
        if latest is not None:
            self._check_consistency(latest, checkpoint, proof)
        return latest

    def _fetch_leaves(self, peer: str, held: int, size: int) -> list[bytes]:
        if size <= held:
            return []
        if self.fetch_leaves is None:
            raise RedlineError("this node cannot fetch its peer's leaves")
        records: list[bytes] = []
        for start in range(held, size, LEAF_CHUNK):
            records += self.fetch_leaves(peer, start, min(size, start + LEAF_CHUNK))
        if len(records) != size - held:
            raise InvalidProof(
                f"{peer}'s log sent {len(records)} leaves for [{held}, {size})", field="leaves"
            )
        return records

    def _cosign(
        self,
        peer: str,
        old: int,
        proof: list[bytes],
        checkpoint: Checkpoint,
        note: bytes,
        held: int,
        records: list[bytes],
        now: datetime,
    ) -> bytes:
        stamp = format_time(now)
        with self.node.store.write() as conn:
            peers.lock_peer(conn, peer)
            latest = self._check_sizes(conn, peer, old, proof, checkpoint)
            if logs.peer_log_size(conn, peer) != held:
                raise Conflict("the peer's log was witnessed meanwhile; ask again", field="old")
            kept = latest.note if latest is not None else ""
            reader, fields = self._mirror(conn, peer, checkpoint, held, records, kept)
            checkpoint_id = self._store_peer_checkpoint(conn, peer, checkpoint, note, stamp)
            given = stored.cosignature_line(conn, checkpoint_id, self.party)
            if given is not None:
                # Asked again (the answer was lost): the same cosignature, once more.
                return given.encode()
            logs.add_peer_leaves(
                conn, peer, start=held, leaves=fields, records=records, hashes=reader.pending
            )
            self._find_received(conn, peer, checkpoint, checkpoint_id, kept)
            self._alarm_undelivered(conn, peer, checkpoint, stamp)
            line = self._witness_signer.cosign(
                checkpoint.format(), timestamp=int(now.timestamp())
            ).decode()
            stored.add_cosignature(
                conn,
                checkpoint_id=checkpoint_id,
                witness=self.party,
                line=line,
                timestamp=int(now.timestamp()),
            )
        return line.encode()

    @staticmethod
    def _mirror(
        conn: Connection,
        peer: str,
        checkpoint: Checkpoint,
        held: int,
        records: list[bytes],
        kept: str,
    ) -> tuple[logs.PendingHashReader, list[LeafFields]]:
        """Extend the copy of ``peer``'s log with ``records`` and check its root."""
        reader = logs.PendingHashReader(logs.PeerHashReader(conn, peer))
        fields = []
        before = logs.peer_leaves_between(conn, peer, held - 1, held) if held else []
        previous = parse_time(parse_leaf(before[0]).time) if before else None
        for offset, record in enumerate(records):
            index = held + offset
            try:
                leaf = parse_leaf(record)
            except VerificationError as exc:
                error = InvalidProof(f"leaf {index} of {peer}'s log: {exc.message}", field="leaves")
                raise _Caught(
                    error, kept=kept, why="holds a malformed leaf", condition=f"leaves from={held}"
                ) from exc
            if leaf.sender != peer:
                error = InvalidProof(f"leaf {index} names signer {leaf.sender!r}", field="leaves")
                raise _Caught(
                    error,
                    kept=kept,
                    why="holds a leaf of another signer",
                    condition=f"leaves from={held}",
                )
            # A Redline log dates each leaf no earlier than the one before it (the
            # signer clamps to its last leaf under the log's lock): an earlier leaf
            # was backdated (say, a reply dated before a deadline it missed).
            moment = parse_time(leaf.time)
            if previous is not None and moment < previous:
                error = InvalidProof(
                    f"leaf {index} is dated {leaf.time}, before the leaf ahead of it",
                    field="leaves",
                )
                raise _Caught(
                    error, kept=kept, why="holds a backdated leaf", condition=f"leaves from={held}"
                )
            previous = max(previous, moment) if previous is not None else moment
            hashes = merkle.stored_hashes_for_leaf_hash(index, merkle.leaf_hash(record), reader)
            reader.add(merkle.stored_hash_index(0, index), hashes)
            fields.append(leaf)
        if checkpoint.size and merkle.tree_hash(checkpoint.size, reader) != checkpoint.root_hash:
            error = InvalidProof(
                f"{peer}'s leaves do not hash to its checkpoint of size {checkpoint.size}",
                field="leaves",
            )
            raise _Caught(
                error,
                kept=kept,
                why="served leaves that do not match its checkpoint",
                condition=f"leaves from={held}",
            )
        return reader, fields

    def _find_received(
        self,
        conn: Connection,
        peer: str,
        checkpoint: Checkpoint,
        checkpoint_id: int,
        kept: str,
    ) -> None:
        """Find each statement ``peer`` sent this node in its log, or catch it left out.

        Only statements not yet found are looked at (an index finds them), so a
        checkpoint costs what arrived since the last one, not the whole history.
        """
        rows = stored.unproven_from(conn, peer)
        if not rows or checkpoint.size == 0:
            return
        last = logs.peer_leaves_between(conn, peer, checkpoint.size - 1, checkpoint.size)
        log_time = parse_leaf(last[0]).time if last else None
        held = logs.peer_leaves_of(conn, peer, [statement_id for statement_id, _ in rows])
        found_now: list[dict[str, Any]] = []
        for _, wire in rows:
            statement = Statement.from_wire(wire)
            found = held.get(statement.id)
            if found is None or found[0] >= checkpoint.size:
                # Not in this tree. Fine if it is newer than the log's last leaf;
                # if the log runs past it, the log left it out.
                if (
                    log_time is not None
                    and parse_time(log_time) > statement.sent_at + OMISSION_SLACK
                ):
                    error = InvalidProof(
                        f"statement {statement.id[:16]} of {statement.time}, sent to this node, "
                        f"is missing from {peer}'s log, which runs to {log_time}",
                        field="inclusion",
                    )
                    raise _Caught(
                        error,
                        kept=kept,
                        why="left out a statement it sent us",
                        condition=f"left-out statement={statement.id}",
                    )
                continue
            index, record = found
            try:
                check_leaf(record, statement)
            except VerificationError as exc:
                error = InvalidProof(f"{peer}'s leaf {index}: {exc.message}", field="inclusion")
                raise _Caught(
                    error,
                    kept=kept,
                    why="logged a leaf that does not match",
                    condition=f"mismatched-leaf statement={statement.id}",
                ) from exc
            # The root of this tree was checked against the leaves just above
            # (_mirror), so the leaf at ``index`` is proven included.
            found_now.append({"id": statement.id, "index": index, "record": record})
        stored.mark_found_in_peer_log(conn, found_now, checkpoint_id=checkpoint_id)

    def _alarm_undelivered(
        self, conn: Connection, peer: str, checkpoint: Checkpoint, stamp: str
    ) -> None:
        """Alarm when ``peer``'s log holds statements to this node it never delivered.

        A reply signed and logged but withheld would let the peer say it
        answered; the operator must know of it while it can still be asked for.
        """
        if checkpoint.size == 0:
            return
        last = logs.peer_leaves_between(conn, peer, checkpoint.size - 1, checkpoint.size)
        if not last:
            return
        cutoff = format_time(parse_time(parse_leaf(last[0]).time) - OMISSION_SLACK)
        # Leaves are in time order (_mirror refuses a backdated one), so those
        # older than the cutoff are a prefix of the leaves not yet looked at.
        start = peers.undelivered_checked(conn, peer)
        upto = stored.last_leaf_before(conn, peer, start=start, end=checkpoint.size, before=cutoff)
        if upto is None:
            return
        peers.set_undelivered_checked(conn, peer, upto + 1)
        missing = stored.undelivered_to(conn, peer, start=start, upto=upto, recipient=self.party)
        if not missing:
            return
        message = (
            f"{peer}'s log holds {len(missing)} statement(s) to {self.party} that never "
            f"arrived (first: {missing[0].kind} {missing[0].statement_id[:16]} of "
            f"{missing[0].time})"
        )
        alarms.raise_alarm(
            conn,
            kind="undelivered",
            peer=peer,
            condition=f"undelivered statement={missing[0].statement_id}",
            message=message,
            now=stamp,
            evidence=json.dumps([row.statement_id for row in missing]),
        )

    @staticmethod
    def _check_against_history(conn: Connection, peer: str, checkpoint: Checkpoint) -> None:
        other = stored.other_root_at_size(conn, peer, checkpoint.size, checkpoint.root_hash)
        if other is not None:
            error = Equivocation(
                f"{peer!r} showed two different checkpoints for size {checkpoint.size}",
                field="checkpoint",
            )
            raise _Caught(
                error,
                kept=other.note,
                why="showed two roots for one size",
                condition=f"two-roots size={checkpoint.size}",
            )

    @staticmethod
    def _check_consistency(
        latest: StoredCheckpoint, checkpoint: Checkpoint, proof: list[bytes]
    ) -> None:
        if latest.size == checkpoint.size:
            seen = Checkpoint(checkpoint.origin, latest.size, latest.root_hash)
            try:
                check_no_equivocation(seen, checkpoint)
            except Equivocation as exc:
                raise _Caught(
                    Equivocation(exc.message, field="checkpoint"),
                    kept=latest.note,
                    why="showed two roots for one size",
                    condition=f"two-roots size={checkpoint.size}",
                ) from exc
            return
        try:
            merkle.verify_consistency(
                size1=latest.size,
                size2=checkpoint.size,
                proof=proof,
                root1=latest.root_hash,
                root2=checkpoint.root_hash,
            )
        except InvalidProof as exc:
            # Named by the cosigned size it contradicts: new sizes with bad proofs
            # are one condition until the witness cosigns again.
            raise _Caught(
                exc,
                kept=latest.note,
                why=f"is inconsistent ({exc})",
                condition=f"inconsistent cosigned={latest.size}",
            ) from exc

    def _store_peer_checkpoint(
        self, conn: Connection, peer: str, checkpoint: Checkpoint, note: bytes, stamp: str
    ) -> int:
        log_key = Verifier.parse(peers.get_peer(conn, peer).identity.log_vkey)
        existing = stored.checkpoint_id(conn, peer, checkpoint.size, checkpoint.root_hash)
        if existing is not None:
            return existing
        return stored.insert_checkpoint(
            conn,
            party=peer,
            size=checkpoint.size,
            root_hash=checkpoint.root_hash,
            note=log_signed_note(note, log_key),
            created_at=stamp,
        )

    def status(self) -> dict[str, Any]:
        """The record as an operator sees it: this log's latest checkpoint and who
        cosigned it, the peers' checkpoints this node cosigned, and how many
        received statements still await an inclusion proof."""
        own = self.latest_checkpoint()
        report: dict[str, Any] = {"origin": self.origin, "checkpoint": None, "witnessed": {}}
        with self.node.store.read() as conn:
            if own is not None:
                report["checkpoint"] = {
                    "size": own.size,
                    "root_hash": base64.b64encode(own.root_hash).decode("ascii"),
                    "cosigned_by": stored.cosigners(conn, own.id),
                }
            for peer in peers.list_peers(conn):
                latest = stored.latest_checkpoint(conn, peer.party, cosigned_by=self.party)
                report["witnessed"][peer.party] = None if latest is None else {"size": latest.size}
        report["unproven"] = self.unproven_count()
        return report

    def unproven_count(self) -> int:
        """How many statements received from peers are not yet proven in their logs."""
        with self.node.store.read() as conn:
            return stored.unproven_count(conn)


class _Caught(Exception):
    """A peer's log misbehaved; carries the error, the note it contradicts, and
    what names the condition (one open alarm each; store.alarms)."""

    def __init__(self, error: RedlineError, *, kept: str, why: str, condition: str) -> None:
        super().__init__(why)
        self.error = error
        self.kept = kept
        self.why = why
        self.condition = condition
