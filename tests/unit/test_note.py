"""C2SP signed-note: the PeterNeumann vectors and the rules for opening a note."""

from __future__ import annotations

import base64
import string

import pytest

from redline.core.errors import InvalidInput, InvalidKey, InvalidNote
from redline.core.note import (
    ALG_ED25519,
    MAX_SIGNATURES,
    Signer,
    Verifier,
    generate_signer_key,
    key_hash,
    open_note,
    sign_note,
)

# vectors/README.md (golang.org/x/mod/sumdb/note's example key pair).
SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
SIGNED = (
    TEXT + "\n\u2014 PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
).encode()
BAD_KEYS = {
    "wrong key length": (
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
    ),
    "unknown algorithm": "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
}

# c2sp signed-note §Verifier keys, example.
EXAMPLE_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
EXAMPLE_NOTE = (
    "This is an example message.\n\n\u2014 example.com/foo "
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
).encode()


def _signer(name: str, byte: int) -> Signer:
    return Signer(name, bytes([byte]) * 32)


def test_signer_key_round_trip() -> None:
    signer = Signer.from_key(SKEY)
    assert signer.name == "PeterNeumann"
    assert signer.key_hash == 0xC74F20A3
    assert signer.verifier_key == VKEY
    assert generate_signer_key(signer.name, signer.seed) == SKEY
    assert signer.seed.hex() not in repr(signer)


def test_sign_is_byte_for_byte() -> None:
    assert sign_note(TEXT, [Signer.from_key(SKEY)]) == SIGNED


def test_open_peter_neumann() -> None:
    verifier = Verifier.parse(VKEY)
    assert (verifier.name, verifier.key_hash, verifier.type) == ("PeterNeumann", 0xC74F20A3, 1)
    assert verifier.vkey == VKEY
    note = open_note(SIGNED, [verifier])
    assert note.text == TEXT
    assert [s.name for s in note.signatures] == ["PeterNeumann"]
    assert note.signatures[0].timestamp is None
    assert note.unverified_signatures == ()
    assert note.signature_from(verifier) is note.signatures[0]


def test_open_spec_example() -> None:
    note = open_note(EXAMPLE_NOTE, [Verifier.parse(EXAMPLE_VKEY)])
    assert note.text == "This is an example message.\n"


@pytest.mark.parametrize("vkey", BAD_KEYS.values(), ids=BAD_KEYS.keys())
def test_listed_bad_keys_are_refused(vkey: str) -> None:
    with pytest.raises(InvalidKey):
        Verifier.parse(vkey)


def test_unknown_algorithm_is_named() -> None:
    with pytest.raises(InvalidKey, match="unknown signature algorithm"):
        Verifier.parse(BAD_KEYS["unknown algorithm"])


def _variants(c: str) -> list[str]:
    alphabet = string.ascii_letters + string.digits + "+/=-_. \u2014"
    return [x for x in alphabet if x != c]


def test_every_single_char_change_is_refused() -> None:
    for i, c in enumerate(VKEY):
        for x in _variants(c):
            changed = VKEY[:i] + x + VKEY[i + 1 :]
            with pytest.raises(InvalidKey):
                Verifier.parse(changed)
        # The hex key ID must be lowercase (signed-note §Conventions).
        if c in "abcdef" and VKEY.index("+") < i < VKEY.rindex("+"):
            with pytest.raises(InvalidKey):
                Verifier.parse(VKEY[:i] + c.upper() + VKEY[i + 1 :])


def test_every_byte_change_is_refused() -> None:
    raw = VKEY.encode()
    for i in range(len(raw)):
        changed = bytearray(raw)
        changed[i] ^= 0x01
        try:
            text = bytes(changed).decode()
        except UnicodeDecodeError:
            continue
        with pytest.raises(InvalidKey):
            Verifier.parse(text)


def test_truncated_and_extended_keys_are_refused() -> None:
    for n in range(len(VKEY)):
        with pytest.raises(InvalidKey):
            Verifier.parse(VKEY[:n])
    for extra in ["A", "=", "+", "\n", " "]:
        with pytest.raises(InvalidKey):
            Verifier.parse(VKEY + extra)


def test_bad_signer_keys_are_refused() -> None:
    for bad in [
        SKEY.replace("PRIVATE", "PUBLIC"),
        SKEY.replace("c74f20a3", "c74f20a4"),
        SKEY[:-2],
        SKEY.replace("+AYEK", "+AoEK"),
        "PRIVATE+KEY+Peter Neumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
    ]:
        with pytest.raises(InvalidKey):
            Signer.from_key(bad)
    with pytest.raises(InvalidKey):
        Signer("a+b", bytes(32))
    with pytest.raises(InvalidKey):
        Signer("ok", bytes(31))


def test_verifier_constructor_checks() -> None:
    v = Verifier.parse(VKEY)
    assert Verifier(name=v.name, public_key=v.public_key) == v
    with pytest.raises(InvalidKey):
        Verifier(name="", public_key=v.public_key)
    with pytest.raises(InvalidKey):
        Verifier(name="x", public_key=v.public_key, type=0x02)
    with pytest.raises(InvalidKey):
        Verifier(name="x", public_key=v.public_key[:31])
    assert v.key_hash == key_hash("PeterNeumann", bytes([ALG_ED25519]) + v.public_key)


def test_verify_bool_for_go_compatibility() -> None:
    v = Verifier.parse(VKEY)
    sig = base64.b64decode(SIGNED.decode().rsplit(" ", 1)[1])[4:]
    assert v.verify(TEXT.encode(), sig)
    assert not v.verify(TEXT.encode() + b"x", sig)
    assert not v.verify(TEXT.encode(), sig[:-1])


def test_tampered_note_is_refused() -> None:
    tampered = SIGNED.replace(b"cryptography", b"cryptographY")
    with pytest.raises(InvalidNote, match="does not verify"):
        open_note(tampered, [Verifier.parse(VKEY)])


def test_unknown_key_only_is_refused() -> None:
    other = _signer("PeterNeumann", 7).verifier()  # same name, other key ID
    with pytest.raises(InvalidNote, match="no signature from a known key"):
        open_note(SIGNED, [other])


def test_same_id_other_name_is_ignored() -> None:
    v = Verifier.parse(VKEY)
    line = SIGNED.decode().rsplit("\n", 2)[1].replace("PeterNeumann", "PaulNeumann")
    note = (TEXT + "\n" + line + "\n").encode()
    with pytest.raises(InvalidNote, match="no signature from a known key"):
        open_note(note, [v])


def test_bad_signature_from_known_key_is_refused_even_with_a_good_one() -> None:
    alice, bob = _signer("alice", 1), _signer("bob", 2)
    good = sign_note(TEXT, [alice, bob])
    forged_sig = base64.b64encode(bob.key_hash.to_bytes(4, "big") + bytes(64)).decode()
    lines = good.decode().split("\n")
    lines[-2] = f"\u2014 bob {forged_sig}"
    forged = "\n".join(lines).encode()
    assert open_note(forged, [alice.verifier()]).signatures[0].name == "alice"
    with pytest.raises(InvalidNote, match="bob does not verify"):
        open_note(forged, [alice.verifier(), bob.verifier()])


def test_unknown_signatures_are_kept_unverified_and_deduplicated() -> None:
    alice, bob = _signer("alice", 1), _signer("bob", 2)
    msg = sign_note(TEXT, [alice, bob])
    bob_line = msg.decode().split("\n")[-2] + "\n"
    msg = msg + bob_line.encode() + msg.decode().split("\n")[-3].encode() + b"\n"
    note = open_note(msg, [alice.verifier()])
    assert [s.name for s in note.signatures] == ["alice"]
    assert [s.name for s in note.unverified_signatures] == ["bob"]
    assert note.unverified_signatures[0].key_hash == bob.key_hash


@pytest.mark.parametrize(
    "msg",
    [
        pytest.param(TEXT.encode(), id="no-signatures"),
        pytest.param(SIGNED[:-1], id="no-final-newline"),
        pytest.param(SIGNED.replace(b"\xe2\x80\x94 ", b"-- "), id="no-em-dash"),
        pytest.param(SIGNED.replace(b"PeterNeumann ", b"PeterNeumann  "), id="two-spaces"),
        pytest.param(SIGNED.replace(b"you", b"y\x01u"), id="control-char"),
        pytest.param(SIGNED.replace(b"you", b"y\xffu"), id="not-utf8"),
        pytest.param(SIGNED.replace(b"\n\n", b"\r\n\n"), id="carriage-return"),
        pytest.param(SIGNED + b"\n", id="trailing-blank-line"),
        pytest.param(TEXT.encode() + b"\n\xe2\x80\x94 PeterNeumann AAAA\n", id="short-sig"),
        pytest.param(SIGNED[:-3] + b"@=\n", id="bad-base64"),
    ],
)
def test_malformed_notes_are_refused(msg: bytes) -> None:
    with pytest.raises(InvalidNote):
        open_note(msg, [Verifier.parse(VKEY)])


def test_signature_limit() -> None:
    signer = Signer.from_key(SKEY)
    line = SIGNED.decode().split("\n")[-2]
    others = [
        f"\u2014 other{i} " + base64.b64encode(bytes(68)).decode() for i in range(MAX_SIGNATURES)
    ]
    msg = (TEXT + "\n" + line + "\n" + "\n".join(others) + "\n").encode()
    with pytest.raises(InvalidNote, match="more than"):
        open_note(msg, [signer.verifier()])
    # At least 16 signatures MUST be accepted (signed-note §Format).
    msg = (TEXT + "\n" + line + "\n" + "\n".join(others[:15]) + "\n").encode()
    assert len(open_note(msg, [signer.verifier()]).unverified_signatures) == 15


def test_text_with_blank_lines_splits_at_the_last() -> None:
    text = "first\n\nsecond\n\n"
    signer = _signer("alice", 1)
    note = open_note(sign_note(text, [signer]), [signer.verifier()])
    assert note.text == text


def test_open_fails_closed_and_rejects_ambiguous_verifiers() -> None:
    with pytest.raises(InvalidKey):
        open_note(SIGNED, [])
    v = Verifier.parse(VKEY)
    impostor = Verifier(name="x", public_key=bytes(31) + b"\x01")
    object.__setattr__(impostor, "name", v.name)
    object.__setattr__(impostor, "key_hash", v.key_hash)
    with pytest.raises(InvalidKey, match="share name"):
        open_note(SIGNED, [v, impostor])
    assert open_note(SIGNED, [v, v]).text == TEXT


def test_sign_refuses_bad_input() -> None:
    signer = _signer("alice", 1)
    with pytest.raises(InvalidInput):
        sign_note("no newline", [signer])
    with pytest.raises(InvalidInput):
        sign_note("tab\there\n", [signer])
    with pytest.raises(InvalidInput):
        sign_note(TEXT, [])
    with pytest.raises(InvalidInput):
        sign_note(TEXT, [signer, signer])
