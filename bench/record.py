"""Record benchmark: each figure beside its floor, measured in the same run.

1. durable append rate: statements' leaves appended to the log (leaf record,
   tlog stored hashes) and committed, in transactions of --batch; floor: the
   same rows (leaf record + the same number of hash rows) inserted and
   committed without computing anything.
2. proof generation rate: inclusion proofs for random leaves of the log from
   the database; floor: the same stored-hash reads without the hashing.
3. the root of a 1,000,000-leaf log from its leaf records
   (``merkle.root_from_leaf_hashes`` over RFC 6962 leaf hashes); floor: a
   plain hashlib loop computing the same root level by level. Target: <= 3x.
4. statement signature verification in ``verify``: the function ``redline
   verify`` runs on each log's statement files (``verify.check_statements``:
   parse each file, match it to its name and log, check its signature);
   floor: bare pyca/cryptography Ed25519 verifies of the same signatures over
   the same bytes, alternating with Redline's in slices of 500 statements, 15
   rounds (the median round's ratio is reported, with the lowest and
   highest). Target: >= 0.8x the floor's rate.

Run:  .venv/bin/python bench/record.py [--appends 20000] [--batch 1000]
      [--proofs 5000] [--leaves 1000000] [--verifies 5000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from redline.core import merkle
from redline.core.leaf import leaf_record
from redline.core.statement import Statement
from redline.store import repo
from redline.store.db import open_store
from redline.verify import check_statements

KEY = Ed25519PrivateKey.generate()
NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def make_statements(count: int) -> list[Statement]:
    return [
        Statement.create(
            key=KEY,
            sender="us",
            to="prc",
            kind="message",
            seq=i + 1,
            time=NOW,
            body={"precedence": "routine", "subject": f"s{i}", "text": "x" * 100, "lang": "en"},
        )
        for i in range(count)
    ]


def bench_append(root: Path, statements: list[Statement], batch: int) -> dict[str, float]:
    store = open_store(f"sqlite:///{root / 'append.db'}")
    t0 = time.perf_counter()
    for start in range(0, len(statements), batch):
        with store.write() as conn:
            repo.append_to_log(conn, statements[start : start + batch])
    elapsed = time.perf_counter() - t0
    with store.read() as conn:
        hash_rows = conn.execute(text("SELECT count(*) FROM log_hashes")).scalar_one()
    store.dispose()

    # Floor: the same rows, precomputed, inserted and committed the same way.
    records = [leaf_record(s) for s in statements]
    hashes = [hashlib.sha256(b"\x00" + r).digest() for r in records]
    per_leaf = max(1, round(hash_rows / len(records)))
    db = sqlite3.connect(root / "append-floor.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE leaves (idx INTEGER PRIMARY KEY, sid TEXT UNIQUE, record BLOB)")
    db.execute("CREATE TABLE hashes (idx INTEGER PRIMARY KEY, hash BLOB)")
    t0 = time.perf_counter()
    next_hash = 0
    for start in range(0, len(records), batch):
        db.execute("BEGIN IMMEDIATE")
        chunk = range(start, min(start + batch, len(records)))
        db.executemany(
            "INSERT INTO leaves VALUES (?, ?, ?)",
            [(i, statements[i].id, records[i]) for i in chunk],
        )
        rows = []
        for i in chunk:
            for _ in range(per_leaf):
                rows.append((next_hash, hashes[i]))
                next_hash += 1
        db.executemany("INSERT INTO hashes VALUES (?, ?)", rows)
        db.execute("COMMIT")
    floor = time.perf_counter() - t0
    db.close()
    n = len(statements)
    return {
        "appends": n,
        "batch": batch,
        "per_second": n / elapsed,
        "floor_per_second": n / floor,
        "ratio_to_floor": (n / elapsed) / (n / floor),
    }


def bench_proofs(root: Path, count: int) -> dict[str, float]:
    store = open_store(f"sqlite:///{root / 'append.db'}", migrate=False)
    rng = random.Random(1)
    with store.read() as conn:
        size = repo.log_size(conn)
        reader = repo.DbHashReader(conn)
        picks = [rng.randrange(size) for _ in range(count)]
        t0 = time.perf_counter()
        for index in picks:
            merkle.prove_record(size, index, reader)
        elapsed = time.perf_counter() - t0

        # Floor: read the same stored hashes, do no hashing.
        class Recording:
            def __init__(self) -> None:
                self.reads: list[list[int]] = []

            def read_hashes(self, indexes: list[int]) -> list[bytes]:
                self.reads.append(list(indexes))
                return reader.read_hashes(indexes)

        recording = Recording()
        for index in picks:
            merkle.prove_record(size, index, recording)
        t0 = time.perf_counter()
        for indexes in recording.reads:
            reader.read_hashes(indexes)
        floor = time.perf_counter() - t0
    store.dispose()
    return {
        "log_size": size,
        "proofs": count,
        "per_second": count / elapsed,
        "floor_per_second": count / floor,
        "ratio_to_floor": floor / elapsed,
    }


def plain_root(records: list[bytes]) -> bytes:
    """RFC 6962 root by a plain hashlib loop, level by level."""
    level = [hashlib.sha256(b"\x00" + r).digest() for r in records]
    while len(level) > 1:
        nxt = [
            hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest()
            for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def bench_root(leaves: int) -> dict[str, float]:
    template = make_statements(1)[0]
    base = leaf_record(template)
    records = [base + i.to_bytes(4, "big") for i in range(leaves)]
    t0 = time.perf_counter()
    ours = merkle.root_from_leaf_hashes([merkle.leaf_hash(r) for r in records])
    elapsed = time.perf_counter() - t0
    t0 = time.perf_counter()
    floor_root = plain_root(records)
    floor = time.perf_counter() - t0
    assert ours == floor_root, "the two roots differ"
    return {
        "leaves": leaves,
        "seconds": elapsed,
        "floor_seconds": floor,
        "ratio_to_floor": elapsed / floor,
    }


def bench_verify(count: int, rounds: int = 15, chunk: int = 500) -> dict[str, float]:
    """``verify``'s statement checks against bare Ed25519 verifies of the same
    statements. Each round alternates the two in slices of ``chunk`` statements
    (a log of that many, for ``check_statements``): this machine's speed drifts
    over seconds, and slices of a fraction of a second keep both sides under
    the same conditions. The median round's ratio is reported."""
    statements = make_statements(count)
    entries = [(s.id, s.canonical) for s in statements]
    keys = {"us": KEY.public_key()}
    public = KEY.public_key()
    pairs = [(s.signature, s.signed_bytes()) for s in statements]
    ours: list[float] = []
    floors: list[float] = []
    for _ in range(rounds):
        ours_total = floor_total = 0.0
        for start in range(0, count, chunk):
            t0 = time.perf_counter()
            check_statements(entries[start : start + chunk], party="us", keys=keys)
            ours_total += time.perf_counter() - t0
            t0 = time.perf_counter()
            for signature, signed in pairs[start : start + chunk]:
                public.verify(signature, signed)
            floor_total += time.perf_counter() - t0
        ours.append(ours_total)
        floors.append(floor_total)
    ratios = sorted(f / o for o, f in zip(ours, floors, strict=True))
    return {
        "statements": count,
        "rounds": rounds,
        "chunk": chunk,
        "per_second": count / statistics.median(ours),
        "floor_per_second": count / statistics.median(floors),
        "ratio_to_floor": ratios[len(ratios) // 2],
        "ratio_min": ratios[0],
        "ratio_max": ratios[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--appends", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--proofs", type=int, default=5000)
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--verifies", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="redline-bench-") as tmp:
        root = Path(tmp)
        result = {
            "append": bench_append(root, make_statements(args.appends), args.batch),
            "proofs": bench_proofs(root, args.proofs),
            "root": bench_root(args.leaves),
            "verify": bench_verify(args.verifies),
        }
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
