"""C2SP signed-note v1.0.0, with Ed25519 and cosignature/v1 keys.

Behaves as Go's ``golang.org/x/mod/sumdb/note`` (which reads what we write
and writes what we read), plus signature type 0x04 from C2SP
tlog-cosignature v1.0.1: a witness's timestamped Ed25519 cosignature over a
checkpoint.

Keys and seeds are passed in; nothing here reads the clock, the random
source or a file. Parsing a note or key never trusts its input: every
malformed key raises :class:`InvalidKey`, every malformed or unverifiable
note :class:`InvalidNote`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from redline.core.errors import InvalidInput, InvalidKey, InvalidNote

__all__ = [
    "ALG_COSIGNATURE_V1",
    "ALG_ED25519",
    "MAX_SIGNATURES",
    "CosignatureSigner",
    "Note",
    "NoteSignature",
    "Signer",
    "Verifier",
    "append_signatures",
    "cosignature_message",
    "generate_signer_key",
    "key_hash",
    "open_note",
    "sign_note",
    "split_note",
]

#: signed-note §Signature types: 0x01 is Ed25519 over the note text.
ALG_ED25519 = 0x01
#: signed-note §Signature types: 0x04 is tlog-cosignature's timestamped Ed25519.
ALG_COSIGNATURE_V1 = 0x04

#: signed-note §Format: verifiers SHOULD cap the signature count and MUST
#: accept at least 16; Go's note.Open allows 100.
MAX_SIGNATURES = 100

_SIG_PREFIX = "\u2014 "  # em dash, space (signed-note §Format)
_ED25519_KEY_SIZE = 32
_ED25519_SIG_SIZE = 64
_TIMESTAMP_SIZE = 8
_MAX_TIMESTAMP = 2**63 - 1  # tlog-cosignature §Format


def key_hash(name: str, key: bytes) -> int:
    """Return the signed-note key ID of ``key`` (type byte || public key).

    key ID = SHA-256(name || 0x0A || type || public key)[:4], big-endian
    (signed-note §Signatures). Raises nothing.
    """
    digest = hashlib.sha256(name.encode() + b"\n" + key).digest()
    return int.from_bytes(digest[:4], "big")


def cosignature_message(text: str, timestamp: int) -> bytes:
    """Return the message a cosignature/v1 signs over checkpoint ``text``.

    tlog-cosignature §Signed message: the header line, the time line, then
    the checkpoint note text including its final newline. Raises
    :class:`InvalidInput` for a timestamp outside 0..2^63-1.
    """
    if not 0 <= timestamp <= _MAX_TIMESTAMP:
        raise InvalidInput("cosignature timestamp is out of range", field="timestamp")
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


def _valid_name(name: str) -> bool:
    # signed-note §Format: non-empty, no Unicode spaces, no plus.
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def _b64decode(text: str) -> bytes | None:
    """Strict standard base64 (RFC 4648 §4): canonical or None."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    if base64.b64encode(raw).decode() != text:
        return None
    return raw


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _parse_hash(hex8: str) -> int | None:
    # signed-note §Conventions: fixed-length lowercase hex.
    if len(hex8) != 8 or any(c not in "0123456789abcdef" for c in hex8):
        return None
    return int(hex8, 16)


def _seed_key(seed: bytes) -> Ed25519PrivateKey:
    if len(seed) != 32:
        raise InvalidKey(f"Ed25519 seed must be 32 bytes, not {len(seed)}")
    return Ed25519PrivateKey.from_private_bytes(seed)


def _public_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True, slots=True, kw_only=True)
class Verifier:
    """A signed-note verifier key: Ed25519 (type 0x01) or cosignature/v1 (0x04).

    Build one with :meth:`parse` from vkey text ``name+hash+base64(type||key)``
    or with the constructor, which computes the key ID; the constructor checks
    the name, the type and the key length, and raises :class:`InvalidKey`.
    """

    name: str
    public_key: bytes
    type: int = ALG_ED25519
    key_hash: int = field(init=False)
    _key: Ed25519PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not _valid_name(self.name):
            raise InvalidKey(f"invalid key name {self.name!r}")
        if self.type not in (ALG_ED25519, ALG_COSIGNATURE_V1):
            raise InvalidKey(f"unknown signature type 0x{self.type:02x}")
        if len(self.public_key) != _ED25519_KEY_SIZE:
            raise InvalidKey(f"Ed25519 public key must be 32 bytes, not {len(self.public_key)}")
        kh = key_hash(self.name, bytes([self.type]) + self.public_key)
        object.__setattr__(self, "key_hash", kh)
        try:
            key = Ed25519PublicKey.from_public_bytes(self.public_key)
        except ValueError as exc:
            raise InvalidKey("invalid Ed25519 public key") from exc
        object.__setattr__(self, "_key", key)

    @classmethod
    def parse(cls, vkey: str) -> Verifier:
        """Parse verifier key text (signed-note §Verifier keys).

        Raises :class:`InvalidKey` for a malformed key: a bad name, a key ID
        that is not 8 lowercase hex digits or does not match, non-canonical
        base64, an unknown algorithm or a key of the wrong length.
        """
        # The base64 key material may itself contain "+": split twice only.
        parts = vkey.split("+", 2)
        if len(parts) != 3:
            raise InvalidKey("verifier key must be name+hash+key")
        name, hex8, key64 = parts
        hash_ = _parse_hash(hex8)
        raw = _b64decode(key64)
        if hash_ is None:
            raise InvalidKey("verifier key ID must be 8 lowercase hex digits")
        if raw is None or not raw:
            raise InvalidKey("verifier key material is not valid base64")
        if not _valid_name(name):
            raise InvalidKey(f"invalid key name {name!r}")
        # Go's note.NewVerifier checks the hash over the whole key before the
        # algorithm; we do the same so errors match its order.
        if key_hash(name, raw) != hash_:
            raise InvalidKey("verifier key ID does not match the key")
        if raw[0] not in (ALG_ED25519, ALG_COSIGNATURE_V1):
            raise InvalidKey(f"unknown signature algorithm 0x{raw[0]:02x}")
        return cls(name=name, public_key=raw[1:], type=raw[0])

    @property
    def vkey(self) -> str:
        """The verifier key text. Raises nothing."""
        material = _b64(bytes([self.type]) + self.public_key)
        return f"{self.name}+{self.key_hash:08x}+{material}"

    def check(self, msg: bytes, sig: bytes) -> int | None:
        """Verify ``sig`` (without the key ID) over note text ``msg``.

        Returns the cosignature timestamp for a type 0x04 key, None for
        Ed25519. Raises :class:`InvalidNote` if the signature does not verify.
        """
        signed = msg
        timestamp = None
        if self.type == ALG_COSIGNATURE_V1:
            # tlog-cosignature §Format: u64 timestamp || Ed25519 signature.
            if len(sig) != _TIMESTAMP_SIZE + _ED25519_SIG_SIZE:
                raise InvalidNote(f"cosignature by {self.name} is not 72 bytes")
            timestamp = int.from_bytes(sig[:_TIMESTAMP_SIZE], "big")
            if timestamp > _MAX_TIMESTAMP:
                raise InvalidNote(f"cosignature by {self.name} has an out-of-range timestamp")
            sig = sig[_TIMESTAMP_SIZE:]
            try:
                text = msg.decode()
            except UnicodeDecodeError as exc:
                raise InvalidNote("note text is not UTF-8") from exc
            signed = cosignature_message(text, timestamp)
        if len(sig) != _ED25519_SIG_SIZE:
            raise InvalidNote(f"signature by {self.name} is not 64 bytes")
        try:
            self._key.verify(sig, signed)
        except InvalidSignature as exc:
            raise InvalidNote(f"signature by {self.name} does not verify") from exc
        return timestamp

    def verify(self, msg: bytes, sig: bytes) -> bool:
        """Return whether ``sig`` verifies over ``msg``, as Go's Verifier.Verify.

        Prefer :func:`open_note`, which raises. Raises nothing.
        """
        try:
            self.check(msg, sig)
        except InvalidNote:
            return False
        return True


def _parse_signer_key(skey: str) -> tuple[str, bytes]:
    parts = skey.split("+", 4)
    if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
        raise InvalidKey("signer key must be PRIVATE+KEY+name+hash+key")
    name, hex8, key64 = parts[2:]
    hash_ = _parse_hash(hex8)
    raw = _b64decode(key64)
    if hash_ is None or raw is None or not _valid_name(name):
        raise InvalidKey("malformed signer key")
    if raw[0] != ALG_ED25519:
        raise InvalidKey(f"unknown signature algorithm 0x{raw[0]:02x}")
    seed = raw[1:]
    public = _public_bytes(_seed_key(seed))
    if key_hash(name, bytes([ALG_ED25519]) + public) != hash_:
        raise InvalidKey("signer key ID does not match the key")
    return name, seed


@dataclass(frozen=True, slots=True)
class _SeedSigner:
    """An Ed25519 seed under a key name, with the key ID hashed with the
    subclass's ``KEY_TYPE``. Raises :class:`InvalidKey` for an invalid name or
    a seed that is not 32 bytes."""

    KEY_TYPE: ClassVar[int]

    name: str
    seed: bytes = field(repr=False)
    key_hash: int = field(init=False)
    public_key: bytes = field(init=False)
    _key: Ed25519PrivateKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not _valid_name(self.name):
            raise InvalidKey(f"invalid key name {self.name!r}")
        key = _seed_key(self.seed)
        public = _public_bytes(key)
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "public_key", public)
        object.__setattr__(self, "key_hash", key_hash(self.name, bytes([self.KEY_TYPE]) + public))

    @classmethod
    def from_key(cls, skey: str) -> Self:
        """Build from Ed25519 signer key text ``PRIVATE+KEY+name+hash+base64(0x01||seed)``.

        Raises :class:`InvalidKey` if it is malformed or its hash does not match.
        """
        name, seed = _parse_signer_key(skey)
        return cls(name, seed)

    @property
    def verifier_key(self) -> str:
        """The matching verifier key text. Raises nothing."""
        return self.verifier().vkey

    def verifier(self) -> Verifier:
        """The matching :class:`Verifier` (of this signer's key type). Raises nothing."""
        return Verifier(name=self.name, public_key=self.public_key, type=self.KEY_TYPE)


@dataclass(frozen=True, slots=True)
class Signer(_SeedSigner):
    """An Ed25519 (type 0x01) signed-note signer: ``Signer(name, seed)``.

    Raises :class:`InvalidKey` for an invalid name or a seed that is not 32
    bytes. :meth:`from_key` reads ``PRIVATE+KEY+...`` text.
    """

    KEY_TYPE: ClassVar[int] = ALG_ED25519

    def sign(self, msg: bytes) -> bytes:
        """Return the 64-byte Ed25519 signature of ``msg``. Raises nothing."""
        return self._key.sign(msg)


def generate_signer_key(name: str, seed: bytes) -> str:
    """Return the signer key text for an Ed25519 ``seed`` under ``name``.

    The seed comes from the caller (core never reads the random source).
    Raises :class:`InvalidKey` for an invalid name or a seed not 32 bytes.
    """
    signer = Signer(name, seed)
    material = _b64(bytes([ALG_ED25519]) + seed)
    return f"PRIVATE+KEY+{name}+{signer.key_hash:08x}+{material}"


@dataclass(frozen=True, slots=True)
class CosignatureSigner(_SeedSigner):
    """A tlog-cosignature/v1 signer (type 0x04): ``CosignatureSigner(name, seed)``.

    Raises :class:`InvalidKey` for an invalid name or a seed not 32 bytes.
    :meth:`from_key` reads an Ed25519 ``PRIVATE+KEY+...`` text (the 0x01
    form), as transparency-dev's witness does; the verifier key it gives is
    of type 0x04.
    """

    # tlog-cosignature §Format: the key ID uses type byte 0x04.
    KEY_TYPE: ClassVar[int] = ALG_COSIGNATURE_V1

    def timestamped_signature(self, checkpoint_text: str, *, timestamp: int) -> bytes:
        """Return the 72-byte ``timestamped_signature`` over ``checkpoint_text``.

        Raises :class:`InvalidInput` if the text does not end in a newline
        or the timestamp is outside 0..2^63-1.
        """
        if not checkpoint_text.endswith("\n"):
            raise InvalidInput("checkpoint text must end in a newline", field="text")
        sig = self._key.sign(cosignature_message(checkpoint_text, timestamp))
        return timestamp.to_bytes(_TIMESTAMP_SIZE, "big") + sig

    def cosign(self, checkpoint_text: str, *, timestamp: int) -> bytes:
        """Return the note signature line ``— name base64(...)\\n`` (UTF-8).

        This is the line a tlog-witness returns and that
        :func:`append_signatures` adds to the log's signed checkpoint.
        Raises :class:`InvalidInput` as :meth:`timestamped_signature`.
        """
        sig = self.timestamped_signature(checkpoint_text, timestamp=timestamp)
        raw = self.key_hash.to_bytes(4, "big") + sig
        return f"{_SIG_PREFIX}{self.name} {_b64(raw)}\n".encode()


@dataclass(frozen=True, slots=True, kw_only=True)
class NoteSignature:
    """One signature line of a note.

    ``timestamp`` is set for a verified cosignature/v1 and None otherwise.
    """

    name: str
    key_hash: int
    base64: str
    timestamp: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Note:
    """A note opened by :func:`open_note`: its text and its signatures.

    ``signatures`` verified against a known key; ``unverified_signatures``
    are from keys the caller did not give (ignored, per signed-note).
    """

    text: str
    signatures: tuple[NoteSignature, ...]
    unverified_signatures: tuple[NoteSignature, ...] = ()

    def signature_from(self, verifier: Verifier) -> NoteSignature | None:
        """Return the verified signature by ``verifier``, if any. Raises nothing."""
        for sig in self.signatures:
            if sig.name == verifier.name and sig.key_hash == verifier.key_hash:
                return sig
        return None


def _check_text(text: str) -> None:
    # signed-note §Format: UTF-8, no control characters but newline.
    for c in text:
        if c < " " and c != "\n":
            raise InvalidNote(f"note contains control character U+{ord(c):04X}")


def sign_note(text: str, signers: Sequence[Signer]) -> bytes:
    """Sign note ``text`` with each of ``signers``, in order.

    Returns the signed note: the text, a blank line, one signature line per
    signer. Raises :class:`InvalidInput` if the text does not end in a
    newline or holds a control character, if there is no signer, or if two
    signers share a name and key ID.
    """
    if not text.endswith("\n"):
        raise InvalidInput("note text must end in a newline", field="text")
    try:
        _check_text(text)
    except InvalidNote as exc:
        raise InvalidInput(exc.message, field="text") from exc
    if not signers:
        raise InvalidInput("a note needs at least one signer", field="signers")
    msg = text.encode()
    lines = []
    seen: set[tuple[str, int]] = set()
    for s in signers:
        if (s.name, s.key_hash) in seen:
            raise InvalidInput(f"signer {s.name} is given twice", field="signers")
        seen.add((s.name, s.key_hash))
        raw = s.key_hash.to_bytes(4, "big") + s.sign(msg)
        lines.append(f"{_SIG_PREFIX}{s.name} {_b64(raw)}\n")
    return (text + "\n" + "".join(lines)).encode()


def split_note(msg: bytes) -> tuple[str, list[str]]:
    """Split signed note ``msg`` into its text (ending in a newline) and its
    signature lines (without their newlines); nothing is verified.

    Raises :class:`InvalidNote` if the note is not UTF-8, holds a control
    character, has no blank line, or its signature block is empty or does
    not end in a newline.
    """
    try:
        decoded = msg.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidNote("note is not valid UTF-8") from exc
    _check_text(decoded)
    # signed-note §Format: the text is separated from the signatures by the
    # last empty line; the signature block ends in a newline.
    split = decoded.rfind("\n\n")
    if split < 0:
        raise InvalidNote("note has no blank line before its signatures")
    text, block = decoded[: split + 1], decoded[split + 2 :]
    if not block or not block.endswith("\n"):
        raise InvalidNote("note has no signature lines, or they do not end in a newline")
    return text, block[:-1].split("\n")


def _parse_line(line: str) -> tuple[str, int, str, bytes]:
    if not line.startswith(_SIG_PREFIX):
        raise InvalidNote(f"signature line does not start with an em dash: {line[:40]!r}")
    name, _, b64 = line[len(_SIG_PREFIX) :].partition(" ")
    raw = _b64decode(b64)
    if not _valid_name(name) or raw is None or len(raw) < 5:
        raise InvalidNote(f"malformed signature line: {line[:60]!r}")
    return name, int.from_bytes(raw[:4], "big"), b64, raw[4:]


def open_note(msg: bytes, verifiers: Sequence[Verifier]) -> Note:
    """Parse signed note ``msg`` and verify it against ``verifiers``.

    Per signed-note §Signatures: signatures from unknown keys are kept as
    unverified and otherwise ignored; every signature from a known key is
    verified; at least one must be. Repeated signatures by one key keep the
    first; repeated unknown lines are dropped. Raises :class:`InvalidKey`
    if ``verifiers`` is empty or holds two different keys with one name and
    key ID, and :class:`InvalidNote` if the note is malformed (not UTF-8, a
    control character, no blank line, a bad signature line, more than
    :data:`MAX_SIGNATURES` lines), if a signature from a known key does not
    verify, or if no known key signed it.
    """
    if not verifiers:
        raise InvalidKey("no trusted verifier keys were given")
    known: dict[tuple[str, int], Verifier] = {}
    for each in verifiers:
        prev = known.setdefault((each.name, each.key_hash), each)
        if prev != each:
            raise InvalidKey(f"two verifier keys share name {each.name} and ID {each.key_hash:08x}")
    text, lines = split_note(msg)
    if len(lines) > MAX_SIGNATURES:
        raise InvalidNote(f"note has more than {MAX_SIGNATURES} signatures")
    body = text.encode()
    verified: dict[tuple[str, int], NoteSignature] = {}
    unverified: dict[str, NoteSignature] = {}
    for line in lines:
        name, hash_, b64, sig = _parse_line(line)
        v = known.get((name, hash_))
        if v is None:
            unverified.setdefault(line, NoteSignature(name=name, key_hash=hash_, base64=b64))
            continue
        # A known key's signature MUST be verified, even a repeated one.
        timestamp = v.check(body, sig)
        verified.setdefault(
            (name, hash_),
            NoteSignature(name=name, key_hash=hash_, base64=b64, timestamp=timestamp),
        )
    if not verified:
        raise InvalidNote("note has no signature from a known key")
    return Note(
        text=text,
        signatures=tuple(verified.values()),
        unverified_signatures=tuple(unverified.values()),
    )


def append_signatures(note: bytes, lines: Sequence[bytes]) -> bytes:
    """Add signature ``lines`` (as :meth:`CosignatureSigner.cosign` makes) to ``note``.

    Lines already present are not repeated. Nothing is verified here; open
    the result with :func:`open_note`. Raises :class:`InvalidNote` if the
    note or a line is malformed.
    """
    _, existing = split_note(note)
    out = bytearray(note)
    have = set(existing)
    for raw in lines:
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidNote("signature line is not valid UTF-8") from exc
        if not line.endswith("\n") or "\n" in line[:-1]:
            raise InvalidNote("a signature line must be one line ending in a newline")
        _check_text(line)
        _parse_line(line[:-1])
        if line[:-1] not in have:
            have.add(line[:-1])
            out += raw
    return bytes(out)
