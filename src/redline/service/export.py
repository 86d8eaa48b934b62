"""Export an evidence bundle: this node's log and its peers' logs, as witnessed.

The bundle's layout, and how a third party checks it offline, is described
in :mod:`redline.verify`. Reads go through the store; files are written for
the node's user only (folders 0700, files 0600), since a bundle holds every
exported statement in full.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from redline.core.errors import InvalidInput
from redline.core.merkle import HashReader
from redline.core.statement import format_time, parse_time
from redline.core.tlogproof import build_tlog_proof
from redline.service.record import RecordService
from redline.store import logs
from redline.store.export import LoggedStatement, own_logged, peer_logged

__all__ = ["BUNDLE_FORMAT", "export_bundle"]

BUNDLE_FORMAT = "redline-bundle/v1"
_DIR_MODE = 0o700
_FILE_MODE = 0o600


def _mkdir(path: Path) -> None:
    """Create ``path`` (if need be) readable by the node's user only."""
    path.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
    path.chmod(_DIR_MODE)  # mkdir's mode is narrowed by the umask, and not applied if it existed


def _write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``, readable by the node's user only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _FILE_MODE)
    with os.fdopen(fd, "wb") as file:
        os.fchmod(file.fileno(), _FILE_MODE)
        file.write(data)


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
    _mkdir(out)
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
    _mkdir(identities)
    for party in peers:
        identity = pinned[party].identity
        _write(identities / f"{party}.json", json.dumps(identity.to_json(), indent=2).encode())
    manifest["logs"][node.party] = _export_own(record, out, peers, since, until)
    for party in peers:
        manifest["logs"][party] = _export_peer(record, out, party, since, until)
    _write(out / "manifest.json", json.dumps(manifest, indent=2).encode())
    return manifest


def _write_entry(base: Path, statement_id: str, wire: bytes, leaf: bytes, proof: bytes) -> None:
    _write(base / "statements" / f"{statement_id}.json", wire)
    _write(base / "leaves" / statement_id, leaf)
    _write(base / "proofs" / f"{statement_id}.tlog-proof", proof)


def _log_dir(out: Path, party: str, note: bytes) -> Path:
    base = out / party
    _mkdir(base)
    for sub in ("statements", "leaves", "proofs"):
        _mkdir(base / sub)
    _write(base / "checkpoint", note)
    return base


def _write_entries(
    base: Path,
    entries: Iterable[LoggedStatement],
    note: bytes,
    reader: HashReader,
    size: int,
    since: datetime | None,
    until: datetime | None,
) -> tuple[int, int]:
    """Write each of ``entries`` in the time window that the checkpoint of ``size``
    covers, with its proof; return (written, pending: not yet under it)."""
    exported = pending = 0
    for entry in entries:
        if not _in_window(entry.time, since, until):
            continue
        if entry.leaf_index is None or entry.record is None or entry.leaf_index >= size:
            pending += 1
            continue
        proof = build_tlog_proof(index=entry.leaf_index, checkpoint=note, reader=reader)
        _write_entry(base, entry.id, entry.wire, entry.record, proof.format())
        exported += 1
    return exported, pending


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
    with node.store.read() as conn:
        _write(base / "log", b"".join(logs.leaves_between(conn, 0, latest.size)))
        reader = logs.CachingHashReader(logs.DbHashReader(conn))
        entries = own_logged(conn, peers)
        exported, pending = _write_entries(base, entries, note, reader, latest.size, since, until)
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
    with node.store.read() as conn:
        # This node's copy of the peer's log, as far as the checkpoint goes.
        _write(base / "log", b"".join(logs.peer_leaves_between(conn, party, 0, latest.size)))
        reader = logs.CachingHashReader(logs.PeerHashReader(conn, party))
        entries = peer_logged(conn, party)
        exported, pending = _write_entries(base, entries, note, reader, latest.size, since, until)
    return {"checkpoint": latest.size, "statements": exported, "pending": pending}
