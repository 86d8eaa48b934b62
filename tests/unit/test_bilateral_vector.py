"""The whole cosigned checkpoint of vectors/bilateral-checkpoint.json.

Go's note.Open, tlog.CheckRecord and tlog.CheckTree accept this vector; so
must we, and we must reproduce it byte for byte from the seeds.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from redline.core.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from redline.core.errors import InvalidNote, InvalidProof
from redline.core.merkle import (
    MemoryHashStore,
    leaf_hash,
    prove_record,
    prove_tree,
    verify_consistency,
    verify_inclusion,
)
from redline.core.note import CosignatureSigner, Signer, Verifier, open_note

VECTOR: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parent.parent / "vectors" / "bilateral-checkpoint.json").read_text()
)
LOG_NAME = "example.org/bilateral-log/v1"
A_NAME = "org-a.example/cosigner"
B_NAME = "org-b.example/cosigner"


def _b64(s: str) -> bytes:
    return base64.b64decode(s)


def _verifiers() -> tuple[Verifier, Verifier, Verifier]:
    return (
        Verifier.parse(VECTOR["log_vkey"]),
        Verifier.parse(VECTOR["a_vkey_cosig"]),
        Verifier.parse(VECTOR["b_vkey_cosig"]),
    )


def _store() -> MemoryHashStore:
    store = MemoryHashStore()
    for leaf in VECTOR["leaves"]:
        store.append(leaf.encode())
    return store


def test_keys_derive_from_the_seeds() -> None:
    log, a, b = _verifiers()
    assert Signer(LOG_NAME, bytes([1]) * 32).verifier() == log
    assert CosignatureSigner(A_NAME, bytes([2]) * 32).verifier() == a
    assert CosignatureSigner(B_NAME, bytes([3]) * 32).verifier() == b
    assert (a.type, b.type) == (0x04, 0x04)


def test_note_opens_with_all_three_keys() -> None:
    log, a, b = _verifiers()
    note = open_note(VECTOR["checkpoint"].encode(), [log, a, b])
    assert [s.name for s in note.signatures] == [LOG_NAME, A_NAME, B_NAME]
    assert [s.timestamp for s in note.signatures] == [None, 1700000000, 1700000001]
    signed = open_checkpoint(
        VECTOR["checkpoint"].encode(), log=log, cosigners=[a, b], min_cosignatures=2
    )
    assert signed.checkpoint.size == 7
    assert signed.checkpoint.root_hash == _store().tree_hash()
    assert signed.cosigned_by(a) == 1700000000
    assert signed.cosigned_by(b) == 1700000001


def test_we_reproduce_the_vector_byte_for_byte() -> None:
    cp = Checkpoint(LOG_NAME, 7, _store().tree_hash())
    note = sign_checkpoint(cp, Signer(LOG_NAME, bytes([1]) * 32))
    note += CosignatureSigner(A_NAME, bytes([2]) * 32).cosign(cp.format(), timestamp=1700000000)
    note += CosignatureSigner(B_NAME, bytes([3]) * 32).cosign(cp.format(), timestamp=1700000001)
    assert note == VECTOR["checkpoint"].encode()


def test_inclusion_proof() -> None:
    incl = VECTOR["incl"]
    proof = [_b64(p) for p in incl["proof"]]
    root = Checkpoint.parse(open_note(VECTOR["checkpoint"].encode(), _verifiers()).text).root_hash
    record = VECTOR["leaves"][incl["index"]].encode()
    verify_inclusion(
        leaf_hash=leaf_hash(record), index=incl["index"], size=incl["size"], proof=proof, root=root
    )
    assert prove_record(incl["size"], incl["index"], _store()) == proof
    with pytest.raises(InvalidProof):
        verify_inclusion(
            leaf_hash=leaf_hash(b"record 4\n"), index=3, size=7, proof=proof, root=root
        )


def test_consistency_proof() -> None:
    cons = VECTOR["cons"]
    proof = [_b64(p) for p in cons["proof"]]
    store = _store()
    assert store.tree_hash(cons["old"]) == _b64(cons["old_root"])
    assert prove_tree(cons["new"], cons["old"], store) == proof
    verify_consistency(
        size1=cons["old"],
        size2=cons["new"],
        proof=proof,
        root1=_b64(cons["old_root"]),
        root2=store.tree_hash(),
    )
    with pytest.raises(InvalidProof):
        verify_consistency(
            size1=cons["old"],
            size2=cons["new"],
            proof=proof,
            root1=_b64(cons["old_root"]),
            root2=store.tree_hash(6),
        )
    with pytest.raises(InvalidProof):
        verify_consistency(
            size1=3,
            size2=cons["new"],
            proof=proof,
            root1=store.tree_hash(3),
            root2=store.tree_hash(),
        )


def test_changing_the_size_line_to_8_fails() -> None:
    tampered = VECTOR["checkpoint"].replace("\n7\n", "\n8\n", 1).encode()
    log, a, b = _verifiers()
    with pytest.raises(InvalidNote, match="does not verify"):
        open_note(tampered, [log, a, b])
    # Each key alone also refuses it: the log's signature and each cosignature.
    for v in (log, a, b):
        with pytest.raises(InvalidNote):
            open_note(tampered, [v])
