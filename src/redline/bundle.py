"""Evidence bundles: export a node's record, and verify it offline.

A bundle is a directory a third party can check without Redline's database::

    BUNDLE/manifest.json
    BUNDLE/identities/<party>.json         the identities, as exported (not trusted)
    BUNDLE/<party>/checkpoint              latest cosigned checkpoint (signed note)
    BUNDLE/<party>/statements/<id>.json    the statements, canonical bytes as signed
    BUNDLE/<party>/leaves/<id>             the exact leaf records
    BUNDLE/<party>/proofs/<id>.tlog-proof  C2SP tlog-proof of each leaf

:func:`verify_bundle` trusts only the identities passed to it (``--trust``),
never the copies in the bundle. Any subset of statements verifies on its own
(selective disclosure): each proof carries the cosigned checkpoint it proves
against.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redline.core import merkle
from redline.core.checkpoint import Checkpoint, SignedCheckpoint, open_checkpoint
from redline.core.errors import InvalidInput, RedlineError, VerificationError
from redline.core.hotline.lifecycle import ack_deadline
from redline.core.identity import Identity
from redline.core.leaf import LeafFields, check_leaf, parse_leaf, split_leaves
from redline.core.note import Verifier
from redline.core.statement import Statement, format_time, parse_time, verify_statement
from redline.core.tlogproof import TlogProof, build_tlog_proof, verify_tlog_proof
from redline.service.record import RecordService
from redline.store import logs
from redline.store.export import own_logged, peer_logged

__all__ = ["BUNDLE_FORMAT", "VerifyReport", "check_statements", "export_bundle", "verify_bundle"]

BUNDLE_FORMAT = "redline-bundle/v1"


# -- export -----------------------------------------------------------------------


def _in_window(time: str, since: datetime | None, until: datetime | None) -> bool:
    moment = parse_time(time)
    return (since is None or moment >= since) and (until is None or moment <= until)


def export_bundle(
    record: RecordService,
    out: Path,
    *,
    peer: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    """Write a bundle of this node's log and its peers' logs (as witnessed) to ``out``.

    Only statements covered by a cosigned checkpoint are exported; the
    manifest counts the rest as ``pending``. Returns the manifest.
    Raises :class:`InvalidInput` if ``out`` exists and is not empty, or if
    ``peer`` is not pinned.
    """
    if out.exists() and any(out.iterdir()):
        raise InvalidInput(f"{out} exists and is not empty", field="out")
    node = record.node
    pinned = {p.party: p for p in node.peers()}
    if peer is not None and peer not in pinned:
        raise InvalidInput(f"no pinned peer {peer!r}", field="peer")
    peers = [peer] if peer is not None else sorted(pinned)
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "exported_by": node.party,
        "exported_at": format_time(node.clock()),
        "peer": peer,
        "since": format_time(since) if since else None,
        "until": format_time(until) if until else None,
        "logs": {},
    }
    identities = out / "identities"
    identities.mkdir()
    for party in peers:
        identity = pinned[party].identity
        (identities / f"{party}.json").write_text(json.dumps(identity.to_json(), indent=2))
    manifest["logs"][node.party] = _export_own(record, out, peers, since, until)
    for party in peers:
        manifest["logs"][party] = _export_peer(record, out, party, since, until)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def _write_entry(base: Path, statement_id: str, wire: bytes, leaf: bytes, proof: bytes) -> None:
    (base / "statements" / f"{statement_id}.json").write_bytes(wire)
    (base / "leaves" / statement_id).write_bytes(leaf)
    (base / "proofs" / f"{statement_id}.tlog-proof").write_bytes(proof)


def _log_dir(out: Path, party: str, note: bytes) -> Path:
    base = out / party
    for sub in ("statements", "leaves", "proofs"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    (base / "checkpoint").write_bytes(note)
    return base


def _export_own(
    record: RecordService,
    out: Path,
    peers: Sequence[str],
    since: datetime | None,
    until: datetime | None,
) -> dict[str, Any]:
    node = record.node
    latest = record.latest_cosigned_by_all(peers)
    if latest is None:
        return {"checkpoint": None, "statements": 0, "pending": "no cosigned checkpoint yet"}
    note = record.cosigned_note(latest)
    base = _log_dir(out, node.party, note)
    exported = pending = 0
    with node.store.read() as conn:
        (base / "log").write_bytes(b"".join(logs.leaves_between(conn, 0, latest.size)))
        reader = logs.CachingHashReader(logs.DbHashReader(conn))
        for entry in own_logged(conn, peers):
            if not _in_window(entry.time, since, until):
                continue
            if entry.leaf_index is None or entry.record is None or entry.leaf_index >= latest.size:
                pending += 1
                continue
            proof = build_tlog_proof(index=entry.leaf_index, checkpoint=note, reader=reader)
            _write_entry(base, entry.id, entry.wire, entry.record, proof.format())
            exported += 1
    return {"checkpoint": latest.size, "statements": exported, "pending": pending}


def _export_peer(
    record: RecordService,
    out: Path,
    party: str,
    since: datetime | None,
    until: datetime | None,
) -> dict[str, Any]:
    node = record.node
    latest = record.latest_checkpoint(party, cosigned_by=node.party)
    if latest is None:
        return {"checkpoint": None, "statements": 0, "pending": "not witnessed yet"}
    note = record.cosigned_note(latest)
    base = _log_dir(out, party, note)
    exported = pending = 0
    with node.store.read() as conn:
        # This node's copy of the peer's log, as far as the checkpoint goes.
        (base / "log").write_bytes(b"".join(logs.peer_leaves_between(conn, party, 0, latest.size)))
        reader = logs.CachingHashReader(logs.PeerHashReader(conn, party))
        for entry in peer_logged(conn, party):
            if not _in_window(entry.time, since, until):
                continue
            if entry.leaf_index is None or entry.record is None or entry.leaf_index >= latest.size:
                pending += 1
                continue
            proof = build_tlog_proof(index=entry.leaf_index, checkpoint=note, reader=reader)
            _write_entry(base, entry.id, entry.wire, entry.record, proof.format())
            exported += 1
    return {"checkpoint": latest.size, "statements": exported, "pending": pending}


# -- verify -----------------------------------------------------------------------


@dataclass(slots=True)
class VerifyReport:
    """What :func:`verify_bundle` found, as lines a person can read."""

    lines: list[str] = field(default_factory=list)
    statements: int = 0
    findings: list[dict[str, Any]] = field(default_factory=list)

    def say(self, line: str) -> None:
        self.lines.append(line)


@dataclass(slots=True)
class _Log:
    party: str
    checkpoint: SignedCheckpoint
    statements: dict[str, Statement] = field(default_factory=dict)
    # Every leaf of the log up to the checkpoint, when the bundle holds them all.
    leaves: list[LeafFields] | None = None


def _fail(where: str, exc: Exception | str) -> VerificationError:
    message = exc.message if isinstance(exc, RedlineError) else str(exc)
    return VerificationError(f"{where}: {message}", field=where)


def verify_bundle(path: Path, *, trusted: Sequence[Identity]) -> VerifyReport:
    """Check a bundle against ``trusted`` identities, offline.

    Checks each checkpoint's log signature and a cosignature by another
    trusted party, every statement's signature, every leaf against its
    statement, every proof against its cosigned checkpoint. Then, for each
    engagement request and FLASH/IMMEDIATE message, says whether the
    addressee's log holds a response, and if not, whether the addressee's
    checkpoint was cosigned after the deadline.

    Raises :class:`VerificationError` naming the first thing that is wrong,
    and :class:`InvalidInput` when nothing is trusted or ``path`` is no bundle.
    """
    if not trusted:
        raise InvalidInput("no trusted identities given; refusing to verify", field="trust")
    trust = {identity.party: identity for identity in trusted}
    if not (path / "manifest.json").is_file():
        raise InvalidInput(f"{path} is not a Redline bundle (no manifest.json)", field="bundle")
    keys = {party: identity.public_key() for party, identity in trust.items()}
    report = VerifyReport()
    logs: dict[str, _Log] = {}
    for base in sorted(p for p in path.iterdir() if (p / "checkpoint").is_file()):
        party = base.name
        if party not in trust:
            raise _fail(f"{party}/checkpoint", "this party is not among the trusted identities")
        log_key = Verifier.parse(trust[party].log_vkey)
        cosigners = [Verifier.parse(t.witness_vkey) for p, t in trust.items() if p != party]
        try:
            signed = open_checkpoint(
                (base / "checkpoint").read_bytes(),
                log=log_key,
                cosigners=cosigners,
                min_cosignatures=1,
            )
        except RedlineError as exc:
            raise _fail(f"{party}/checkpoint", exc) from exc
        log = logs[party] = _Log(party, signed)
        if (base / "log").is_file():
            log.leaves = _verify_whole_log(base / "log", party, signed.checkpoint, report)
        witnesses = ", ".join(
            f"{p} at {format_time(_utc(ts))}"
            for p, t in trust.items()
            if p != party and (ts := signed.cosigned_by(Verifier.parse(t.witness_vkey))) is not None
        )
        report.say(
            f"{party}: checkpoint of size {signed.checkpoint.size} signed by {log_key.name}, "
            f"cosigned by {witnesses}"
        )
        _verify_entries(base, log, log_key, cosigners, keys, report)
    if not logs:
        raise InvalidInput(f"{path} holds no log", field="bundle")
    _report_responses(logs, trust, report)
    return report


def _verify_whole_log(
    path: Path, party: str, checkpoint: Checkpoint, report: VerifyReport
) -> list[LeafFields]:
    """Check that ``path`` holds exactly the leaves of ``checkpoint``'s tree."""
    where = f"{party}/log"
    try:
        records = split_leaves(path.read_bytes())
        fields = [parse_leaf(record) for record in records]
    except RedlineError as exc:
        raise _fail(where, exc) from exc
    if len(records) != checkpoint.size:
        raise _fail(where, f"holds {len(records)} leaves; the checkpoint has {checkpoint.size}")
    root = merkle.root_from_leaf_hashes([merkle.leaf_hash(r) for r in records])
    if root != checkpoint.root_hash:
        raise _fail(where, "its leaves do not hash to the checkpoint's root")
    if any(leaf.sender != party for leaf in fields):
        raise _fail(where, "holds a leaf signed by another party")
    report.say(f"{party}: the whole log ({len(records)} leaves) hashes to the checkpoint")
    return fields


def _utc(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)


def _verify_entries(
    base: Path,
    log: _Log,
    log_key: Verifier,
    cosigners: list[Verifier],
    keys: Mapping[str, Any],
    report: VerifyReport,
) -> None:
    party = log.party
    names = {p.name.removesuffix(".json") for p in (base / "statements").glob("*.json")}
    for kind, folder, suffix in (("leaf", "leaves", ""), ("proof", "proofs", ".tlog-proof")):
        for extra in (base / folder).iterdir():
            if extra.name.removesuffix(suffix) not in names:
                raise _fail(f"{party}/{folder}/{extra.name}", f"{kind} has no statement")
    entries = [
        (statement_id, (base / "statements" / f"{statement_id}.json").read_bytes())
        for statement_id in sorted(names)
    ]
    parsed = check_statements(entries, party=party, keys=keys)
    opened: dict[bytes, SignedCheckpoint] = {}  # each proof's checkpoint, verified once
    for statement in parsed:
        statement_id = statement.id
        leaf_path = base / "leaves" / statement_id
        proof_path = base / "proofs" / f"{statement_id}.tlog-proof"
        for needed in (leaf_path, proof_path):
            if not needed.is_file():
                raise _fail(f"{party}/{needed.parent.name}/{needed.name}", "missing")
        leaf = leaf_path.read_bytes()
        try:
            check_leaf(leaf, statement)
        except RedlineError as exc:
            raise _fail(f"{party}/leaves/{statement_id}", exc) from exc
        try:
            proof = TlogProof.parse(proof_path.read_bytes())
            proven = verify_tlog_proof(
                proof,
                log=log_key,
                record=leaf,
                cosigners=cosigners,
                min_cosignatures=1,
                opened=opened,
            )
        except RedlineError as exc:
            raise _fail(f"{party}/proofs/{statement_id}.tlog-proof", exc) from exc
        _check_same_tree(proven.checkpoint, log.checkpoint.checkpoint, party, statement_id)
        if log.leaves is not None:
            index = proof.index
            if index >= len(log.leaves) or log.leaves[index].id != statement.id:
                raise _fail(f"{party}/log", f"leaf {index} is not statement {statement_id[:16]}")
        log.statements[statement.id] = statement
        report.statements += 1
    report.say(f"{party}: {len(names)} statements verified (signature, leaf, inclusion proof)")


def check_statements(
    entries: Sequence[tuple[str, bytes]], *, party: str, keys: Mapping[str, Any]
) -> list[Statement]:
    """Parse the statement files of ``party``'s log, then check their signatures.

    ``entries`` are (id from the file name, file bytes). Every file is parsed
    and matched to its name and log first, and the signatures are checked
    after, in one tight loop: Ed25519 runs faster when Python's parsing does
    not evict its tables between verifies (docs/benchmarks.md).

    Raises :class:`VerificationError` naming the first file that is wrong.
    """
    with _cycle_collector_paused():
        parsed = _parse_statements(entries, party=party)
    for statement_id, statement in parsed:
        try:
            verify_statement(statement, keys=keys)
        except RedlineError as exc:
            raise _fail(_statement_file(party, statement_id), exc) from exc
    return [statement for _, statement in parsed]


@contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    """Pause Python's cycle collector while a bundle's statements are built.

    Parsed statements hold no reference cycles, so the collector has nothing
    to free among them; left running, it walks the growing heap again and
    again while thousands are built (about a tenth of ``verify``'s statement
    time, docs/benchmarks.md). Reference counting still frees everything
    that is dropped, and the collector's previous state is restored.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _parse_statements(
    entries: Sequence[tuple[str, bytes]], *, party: str
) -> list[tuple[str, Statement]]:
    parsed: list[tuple[str, Statement]] = []
    for statement_id, data in entries:
        try:
            statement = Statement.from_wire(data)
        except RedlineError as exc:
            raise _fail(_statement_file(party, statement_id), exc) from exc
        if statement.id != statement_id:
            raise _fail(
                _statement_file(party, statement_id),
                f"content hashes to {statement.id[:16]}, not to its file name",
            )
        if statement.sender != party:
            raise _fail(
                _statement_file(party, statement_id),
                f"signed by {statement.sender!r}, found in {party!r}'s log",
            )
        parsed.append((statement_id, statement))
    return parsed


def _statement_file(party: str, statement_id: str) -> str:
    return f"{party}/statements/{statement_id}.json"


def _check_same_tree(proof_cp: Checkpoint, latest: Checkpoint, party: str, sid: str) -> None:
    where = f"{party}/proofs/{sid}.tlog-proof"
    if proof_cp.size > latest.size:
        raise _fail(where, f"proves against size {proof_cp.size}, beyond the bundle's checkpoint")
    if proof_cp.size == latest.size and proof_cp.root_hash != latest.root_hash:
        raise _fail(where, "proves against a different tree of the same size (equivocation)")


def _deadline(statement: Statement) -> datetime | None:
    if statement.kind == "request":
        return parse_time(str(statement.body["deadline"]))
    precedence = str(statement.body.get("precedence", "")).upper()
    if statement.kind == "message" and precedence in ("FLASH", "IMMEDIATE"):
        return ack_deadline(precedence, statement.sent_at)
    return None


def _receipt_of(statement: Statement, log: _Log) -> Statement | None:
    """The earliest receipt in ``log`` that acknowledges ``statement``."""
    receipts = [
        s
        for s in log.statements.values()
        if s.kind == "receipt" and any(a["id"] == statement.id for a in s.body["ack"])
    ]
    return min(receipts, key=lambda s: s.time, default=None)


# A request is answered by the addressee's accept, decline or counter (a
# withdrawal is the requester's act); a message by the addressee operator's
# ``ack``. The receipt the addressee's node returns shows delivery, not an answer.
_ANSWERS = ("accept", "decline", "counter")


def _replies(statement: Statement, other: _Log) -> list[Statement]:
    if statement.kind != "request":
        return [
            s
            for s in other.statements.values()
            if s.kind == "ack" and s.to == statement.sender and s.body["message"] == statement.id
        ]
    return [
        s
        for s in other.statements.values()
        if s.kind == "response"
        and s.to == statement.sender
        and s.body.get("request") == statement.body["id"]
        and s.body.get("action") in _ANSWERS
    ]


def _could_reply(leaf: LeafFields, statement: Statement) -> bool:
    """Whether a leaf, seen without its statement, might be the reply."""
    if leaf.to != statement.sender:
        return False
    return leaf.kind == ("response" if statement.kind == "request" else "ack")


def _report_responses(
    logs: Mapping[str, _Log], trust: Mapping[str, Identity], report: VerifyReport
) -> None:
    for log in logs.values():
        for statement in sorted(log.statements.values(), key=lambda s: s.time):
            deadline = _deadline(statement)
            if deadline is None:
                continue
            what = (
                f"request {statement.body['id']}"
                if statement.kind == "request"
                else f"{statement.body['precedence'].upper()} message {statement.id[:16]}"
            )
            head = f"{log.party} -> {statement.to}: {what} sent {statement.time}"
            finding: dict[str, Any] = {
                "statement": statement.id,
                "from": log.party,
                "to": statement.to,
                "deadline": format_time(deadline),
            }
            report.findings.append(finding)
            outcome, line = _outcome(statement, deadline, logs.get(statement.to), finding, log)
            finding["outcome"] = outcome
            report.say(f"{head}: {line}")


def _outcome(
    statement: Statement,
    deadline: datetime,
    other: _Log | None,
    finding: dict[str, Any],
    own: _Log,
) -> tuple[str, str]:
    """Whether ``other``'s log answers ``statement``, and how the bundle shows it.

    Outcomes: ``answered`` / ``answered-late`` (a disclosed reply, signed by or
    after the deadline; whether it reached the requester is said too),
    ``no-response`` (proven: the bundle holds the addressee's whole log up to
    a checkpoint, its root recomputed; the addressee's own leaf times run past
    the deadline; and every leaf in it that could be a reply is disclosed and
    is not one), ``late-delivery`` (the addressee's node received it only
    after its deadline), ``open`` (the log does not yet run past the
    deadline) and ``unknown`` (absence cannot be proven from this bundle).
    """
    if other is None:
        return "unknown", f"{statement.to}'s log is not in this bundle"
    receipt = _receipt_of(statement, other)
    delivered = f"received {receipt.time}" if receipt else "no receipt disclosed"
    replies = _replies(statement, other)
    if replies:
        first = min(replies, key=lambda s: s.time)
        finding["reply"] = first.id
        what = "acknowledged" if first.kind == "ack" else f"{first.body['action']}"
        if _receipt_of(first, own) is not None:
            reached = f"; the reply reached {statement.sender}"
        else:
            reached = f"; delivery of the reply to {statement.sender} is not shown"
        if first.sent_at > deadline:
            return "answered-late", (
                f"{delivered}; {what} {first.time}, AFTER the deadline {format_time(deadline)}"
                f"{reached}"
            )
        return "answered", f"{delivered}; {what} {first.time}{reached}"
    if receipt is not None and receipt.sent_at > deadline:
        return "late-delivery", (
            f"{delivered}: {statement.to}'s node received it only after its deadline "
            f"{format_time(deadline)}"
        )
    if other.leaves is None:
        return "unknown", (
            f"{delivered}; no reply among the disclosed statements, but the bundle does not "
            f"hold {statement.to}'s whole log, so absence is not proven"
        )
    hidden = [
        leaf
        for leaf in other.leaves
        if _could_reply(leaf, statement) and leaf.id not in other.statements
    ]
    if hidden:
        return "unknown", (
            f"{delivered}; {statement.to}'s log holds {len(hidden)} {hidden[0].kind} "
            f"statement(s) to {statement.sender} that this bundle does not disclose "
            f"(first {hidden[0].id[:16]}); one may be the reply"
        )
    size = other.checkpoint.checkpoint.size
    last = max((leaf.time for leaf in other.leaves), default=None)
    if last is None or parse_time(last) <= deadline:
        return "open", (
            f"{delivered}; no reply yet, and {statement.to}'s log (size {size}) does not run "
            f"past the deadline {format_time(deadline)}"
        )
    finding["evidence"] = {"log": statement.to, "size": size, "last_leaf_time": last}
    return "no-response", (
        f"{delivered}; NO RESPONSE. {statement.to}'s own log, whole up to size {size} and "
        f"signed by {statement.to}, runs to {last}, past the deadline {format_time(deadline)}, "
        f"and holds no reply to {statement.sender}"
    )
