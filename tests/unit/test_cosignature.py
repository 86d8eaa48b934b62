"""C2SP tlog-cosignature/v1 (signature type 0x04) in signed notes."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from redline.core.errors import InvalidInput, InvalidKey, InvalidNote
from redline.core.note import (
    ALG_COSIGNATURE_V1,
    CosignatureSigner,
    Signer,
    Verifier,
    append_signatures,
    cosignature_message,
    generate_signer_key,
    key_hash,
    open_note,
    sign_note,
)

TEXT = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
LOG = Signer("example.com/behind-the-sofa", bytes([9]) * 32)
WITNESS = CosignatureSigner("witness.example.com/w1", bytes([7]) * 32)


def test_message_layout() -> None:
    # tlog-cosignature §Signed message, the spec's example.
    assert cosignature_message(TEXT, 1679315147) == (
        b"cosignature/v1\ntime 1679315147\n" + TEXT.encode()
    )
    with pytest.raises(InvalidInput):
        cosignature_message(TEXT, -1)
    with pytest.raises(InvalidInput):
        cosignature_message(TEXT, 2**63)


def test_key_id_uses_type_4() -> None:
    v = WITNESS.verifier()
    assert v.type == ALG_COSIGNATURE_V1
    assert WITNESS.key_hash == key_hash(WITNESS.name, b"\x04" + WITNESS.public_key)
    assert WITNESS.key_hash != Signer(WITNESS.name, WITNESS.seed).key_hash
    assert Verifier.parse(WITNESS.verifier_key) == v
    assert base64.b64decode(WITNESS.verifier_key.split("+")[2])[0] == 0x04


def test_cosign_line_structure() -> None:
    line = WITNESS.cosign(TEXT, timestamp=1679315147).decode()
    assert line.startswith("\u2014 witness.example.com/w1 ") and line.endswith("\n")
    raw = base64.b64decode(line.split(" ")[2])
    assert len(raw) == 4 + 72
    assert int.from_bytes(raw[:4], "big") == WITNESS.key_hash
    assert int.from_bytes(raw[4:12], "big") == 1679315147
    public = Ed25519PublicKey.from_public_bytes(WITNESS.public_key)
    public.verify(raw[12:], cosignature_message(TEXT, 1679315147))
    assert raw[4:] == WITNESS.timestamped_signature(TEXT, timestamp=1679315147)


def test_open_returns_timestamps() -> None:
    note = sign_note(TEXT, [LOG])
    note = append_signatures(note, [WITNESS.cosign(TEXT, timestamp=42)])
    opened = open_note(note, [LOG.verifier(), WITNESS.verifier()])
    assert [(s.name, s.timestamp) for s in opened.signatures] == [
        (LOG.name, None),
        (WITNESS.name, 42),
    ]
    # Appending the same line again changes nothing.
    assert append_signatures(note, [WITNESS.cosign(TEXT, timestamp=42)]) == note


def test_cosignature_alone_opens_with_only_the_witness_key() -> None:
    note = (TEXT + "\n").encode() + WITNESS.cosign(TEXT, timestamp=1)
    assert open_note(note, [WITNESS.verifier()]).signatures[0].timestamp == 1


def test_wrong_timestamp_or_text_fails() -> None:
    line = WITNESS.cosign(TEXT, timestamp=100).decode()
    raw = bytearray(base64.b64decode(line.split(" ")[2]))
    raw[11] ^= 1  # timestamp 101: the signature no longer covers it
    forged = f"\u2014 {WITNESS.name} {base64.b64encode(bytes(raw)).decode()}\n".encode()
    with pytest.raises(InvalidNote, match="does not verify"):
        open_note((TEXT + "\n").encode() + forged, [WITNESS.verifier()])
    other = TEXT.replace("20852163", "20852164")
    with pytest.raises(InvalidNote, match="does not verify"):
        open_note((other + "\n").encode() + line.encode(), [WITNESS.verifier()])


def test_timestamp_above_2_63_is_refused() -> None:
    raw = WITNESS.key_hash.to_bytes(4, "big") + (2**63).to_bytes(8, "big") + bytes(64)
    line = f"\u2014 {WITNESS.name} {base64.b64encode(raw).decode()}\n".encode()
    with pytest.raises(InvalidNote, match="out-of-range"):
        open_note((TEXT + "\n").encode() + line, [WITNESS.verifier()])


def test_wrong_length_cosignature_is_refused() -> None:
    raw = WITNESS.key_hash.to_bytes(4, "big") + bytes(64)
    line = f"\u2014 {WITNESS.name} {base64.b64encode(raw).decode()}\n".encode()
    with pytest.raises(InvalidNote, match="72 bytes"):
        open_note((TEXT + "\n").encode() + line, [WITNESS.verifier()])


def test_ed25519_signature_is_not_a_cosignature() -> None:
    # The same seed as an Ed25519 signer yields another key ID: ignored, not
    # mistaken for a cosignature (signed-note §Signatures).
    plain = Signer(WITNESS.name, WITNESS.seed)
    note = sign_note(TEXT, [plain])
    with pytest.raises(InvalidNote, match="no signature from a known key"):
        open_note(note, [WITNESS.verifier()])


def test_from_key_and_bad_input() -> None:
    skey = generate_signer_key(WITNESS.name, WITNESS.seed)
    assert CosignatureSigner.from_key(skey) == WITNESS
    with pytest.raises(InvalidKey):
        CosignatureSigner("bad name", bytes(32))
    with pytest.raises(InvalidKey):
        CosignatureSigner("ok", bytes(16))
    with pytest.raises(InvalidInput):
        WITNESS.cosign(TEXT[:-1], timestamp=1)
    with pytest.raises(InvalidInput):
        WITNESS.cosign(TEXT, timestamp=-5)


def test_append_signatures_refuses_malformed_lines() -> None:
    note = sign_note(TEXT, [LOG])
    for bad in [b"no dash\n", "\u2014 w AAAAAAA=".encode(), "\u2014 w AAAAAAA=\nx\n".encode()]:
        with pytest.raises(InvalidNote):
            append_signatures(note, [bad])
