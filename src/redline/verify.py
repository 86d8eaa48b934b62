"""Verify an evidence bundle offline, against trusted identities only.

A bundle (written by :func:`redline.service.export.export_bundle`) is a
directory a third party can check without Redline's database::

    BUNDLE/manifest.json
    BUNDLE/identities/<party>.json         the identities, as exported (not trusted)
    BUNDLE/<party>/checkpoint              latest cosigned checkpoint (signed note)
    BUNDLE/<party>/log                     the whole log up to it, when exported
    BUNDLE/<party>/statements/<id>.json    the statements, canonical bytes as signed
    BUNDLE/<party>/leaves/<id>             the exact leaf records
    BUNDLE/<party>/proofs/<id>.tlog-proof  C2SP tlog-proof of each leaf

:func:`verify_bundle` trusts only the identities passed to it (``--trust``),
never the copies in the bundle. Any subset of statements verifies on its own
(selective disclosure): each proof carries the cosigned checkpoint it proves
against. It reads only the bundle's files: no database, no network.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redline.core import merkle
from redline.core.checkpoint import Checkpoint, SignedCheckpoint, open_checkpoint
from redline.core.errors import InvalidInput, RedlineError, VerificationError
from redline.core.identity import Identity
from redline.core.leaf import LeafFields, check_leaf, parse_leaf, split_leaves
from redline.core.note import Verifier
from redline.core.outcome import DisclosedLog, bundle_terms, judge, response_deadline
from redline.core.statement import Statement, format_time, verify_statement
from redline.core.tlogproof import TlogProof, verify_tlog_proof

__all__ = ["VerifyReport", "check_statements", "verify_bundle"]


@dataclass(slots=True)
class VerifyReport:
    """What :func:`verify_bundle` found, as lines a person can read."""

    lines: list[str] = field(default_factory=list)
    statements: int = 0
    findings: list[dict[str, Any]] = field(default_factory=list)

    def say(self, line: str) -> None:
        self.lines.append(line)


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
    logs: dict[str, DisclosedLog] = {}
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
        log = logs[party] = DisclosedLog(party, signed)
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
    log: DisclosedLog,
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


def _report_responses(
    logs: Mapping[str, DisclosedLog], trust: Mapping[str, Identity], report: VerifyReport
) -> None:
    terms = bundle_terms(logs.values())
    for log in logs.values():
        for statement in sorted(log.statements.values(), key=lambda s: s.time):
            pair = frozenset((statement.sender, statement.to))
            deadline = response_deadline(statement, terms.get(pair, []))
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
            judgement = judge(statement, deadline, other=logs.get(statement.to), own=log)
            if judgement.reply is not None:
                finding["reply"] = judgement.reply
                reply = logs[statement.to].statements[judgement.reply]
                if reply.kind == "ack":
                    # A late acknowledgement is marked so (docs/messages.md).
                    finding["late"] = judgement.outcome == "answered-late"
                    if "reply" in reply.body:
                        finding["ack_reply"] = reply.body["reply"]
            if judgement.evidence is not None:
                finding["evidence"] = judgement.evidence
            finding["outcome"] = judgement.outcome
            report.say(f"{head}: {judgement.line}")
