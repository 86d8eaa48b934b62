"""C2SP tlog-proof: format, strict parsing and the four verification steps."""

from __future__ import annotations

import base64

import pytest

from redline.core.checkpoint import Checkpoint, sign_checkpoint
from redline.core.errors import InvalidCheckpoint, InvalidInput, InvalidNote, InvalidProof
from redline.core.merkle import MemoryHashStore, leaf_hash
from redline.core.note import CosignatureSigner, Signer
from redline.core.tlogproof import HEADER, TlogProof, build_tlog_proof, verify_tlog_proof

ORIGIN = "example.org/log"
LOG = Signer(ORIGIN, bytes([1]) * 32)
W1 = CosignatureSigner("w1.example", bytes([2]) * 32)
W2 = CosignatureSigner("w2.example", bytes([3]) * 32)
RECORDS = [f"record {i}\n".encode() for i in range(13)]


def _log() -> tuple[MemoryHashStore, bytes]:
    store = MemoryHashStore()
    for r in RECORDS:
        store.append(r)
    cp = Checkpoint(ORIGIN, store.size, store.tree_hash())
    note = sign_checkpoint(cp, LOG) + W1.cosign(cp.format(), timestamp=1700000000)
    return store, note


def test_format_matches_the_spec_layout() -> None:
    store, note = _log()
    proof = build_tlog_proof(index=5, checkpoint=note, reader=store, extra=b"ctx")
    text = proof.format()
    lines = text.split(b"\n")
    assert lines[0] == HEADER.encode()
    assert lines[1] == b"extra " + base64.b64encode(b"ctx")
    assert lines[2] == b"index 5"
    assert len(proof.hashes) == 4
    assert lines[3 : 3 + 4] == [base64.b64encode(h) for h in proof.hashes]
    assert lines[7] == b""
    assert text.endswith(b"\n\n" + note)
    assert TlogProof.parse(text) == proof


def test_without_extra_and_with_empty_proof() -> None:
    store = MemoryHashStore()
    store.append(b"only")
    note = sign_checkpoint(Checkpoint(ORIGIN, 1, store.tree_hash()), LOG)
    proof = build_tlog_proof(index=0, checkpoint=note, reader=store)
    assert proof.format() == f"{HEADER}\nindex 0\n\n".encode() + note
    assert TlogProof.parse(proof.format()) == proof
    verify_tlog_proof(proof.format(), log=LOG.verifier(), record=b"only")


def test_verify_every_record() -> None:
    store, note = _log()
    for i, record in enumerate(RECORDS):
        proof = build_tlog_proof(index=i, checkpoint=note, reader=store).format()
        signed = verify_tlog_proof(
            proof,
            log=LOG.verifier(),
            record=record,
            cosigners=[W1.verifier(), W2.verifier()],
            min_cosignatures=1,
        )
        assert signed.checkpoint.size == len(RECORDS)
        verify_tlog_proof(proof, log=LOG.verifier(), leaf_hash=leaf_hash(record))


def test_verification_failures() -> None:
    store, note = _log()
    proof = build_tlog_proof(index=3, checkpoint=note, reader=store)
    log = LOG.verifier()
    with pytest.raises(InvalidProof):
        verify_tlog_proof(proof, log=log, record=RECORDS[4])
    with pytest.raises(InvalidProof):
        moved = TlogProof(index=4, hashes=proof.hashes, checkpoint=note)
        verify_tlog_proof(moved, log=log, record=RECORDS[3])
    # Step 3: a quorum that the note does not meet.
    with pytest.raises(InvalidNote, match="cosignatures"):
        verify_tlog_proof(
            proof,
            log=log,
            record=RECORDS[3],
            cosigners=[W1.verifier(), W2.verifier()],
            min_cosignatures=2,
        )
    # Step 2: the wrong log key, or the wrong origin.
    with pytest.raises(InvalidNote):
        verify_tlog_proof(proof, log=Signer(ORIGIN, bytes(32)).verifier(), record=RECORDS[3])
    with pytest.raises(InvalidCheckpoint):
        verify_tlog_proof(proof, log=log, record=RECORDS[3], origin="example.org/other")
    # A tampered checkpoint fails its signature.
    tampered = TlogProof(
        index=3, hashes=proof.hashes, checkpoint=note.replace(b"\n13\n", b"\n14\n")
    )
    with pytest.raises(InvalidNote):
        verify_tlog_proof(tampered, log=log, record=RECORDS[3])
    with pytest.raises(InvalidInput):
        verify_tlog_proof(proof, log=log)
    with pytest.raises(InvalidInput):
        verify_tlog_proof(proof, log=log, record=b"x", leaf_hash=leaf_hash(b"x"))


def test_build_refuses_index_outside_tree() -> None:
    store, note = _log()
    with pytest.raises(InvalidInput):
        build_tlog_proof(index=13, checkpoint=note, reader=store)


H = base64.b64encode(bytes(32)).decode()
CP = "o\n1\n" + H + "\n\n\u2014 o AAAAAAA=\n"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(f"c2sp.org/tlog-proof@v2\nindex 0\n\n{CP}", id="wrong-header"),
        pytest.param(f"{HEADER}\nindex 01\n\n{CP}", id="leading-zero"),
        pytest.param(f"{HEADER}\nindex -1\n\n{CP}", id="negative"),
        pytest.param(f"{HEADER}\nindex  1\n\n{CP}", id="two-spaces"),
        pytest.param(f"{HEADER}\nIndex 1\n\n{CP}", id="capital"),
        pytest.param(f"{HEADER}\nindex {2**64}\n\n{CP}", id="index-too-big"),
        pytest.param(f"{HEADER}\n\n{CP}", id="no-index"),
        pytest.param(f"{HEADER}\nextra \nindex 0\n\n{CP}", id="empty-extra"),
        pytest.param(f"{HEADER}\nextra !!\nindex 0\n\n{CP}", id="bad-extra"),
        pytest.param(f"{HEADER}\nindex 0\nextra AA==\n\n{CP}", id="extra-after-index"),
        pytest.param(f"{HEADER}\nindex 0\nAAAA\n\n{CP}", id="short-hash"),
        pytest.param(f"{HEADER}\nindex 0\n{H} \n\n{CP}", id="hash-space"),
        pytest.param(f"{HEADER}\nindex 0\n" + f"{H}\n" * 65 + f"\n{CP}", id="too-many"),
        pytest.param(f"{HEADER}\nindex 0\n\n", id="no-checkpoint"),
        pytest.param(f"{HEADER}\nindex 0\n", id="no-blank-line"),
        pytest.param(f"{HEADER}\r\nindex 0\n\n{CP}", id="crlf"),
    ],
)
def test_parse_is_strict(text: str) -> None:
    with pytest.raises(InvalidProof):
        TlogProof.parse(text.encode())


def test_constructor_validates() -> None:
    with pytest.raises(InvalidProof):
        TlogProof(index=-1, hashes=(), checkpoint=b"x")
    with pytest.raises(InvalidProof):
        TlogProof(index=0, hashes=(b"short",), checkpoint=b"x")
    with pytest.raises(InvalidProof):
        TlogProof(index=0, hashes=(), checkpoint=b"")
    with pytest.raises(InvalidProof):
        TlogProof(index=0, hashes=(), checkpoint=b"x", extra=b"")
