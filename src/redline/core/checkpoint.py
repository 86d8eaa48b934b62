"""C2SP tlog-checkpoint v1.0.0: the signed head of a Merkle log.

A checkpoint is the note text ``origin\\nsize\\nbase64(root)\\n`` plus optional
extension lines, signed as a C2SP signed-note by the log key and, optionally,
cosigned by witnesses (C2SP tlog-cosignature). Parsing is strict: anything
that is not exactly what the spec allows raises :class:`InvalidCheckpoint`,
with ``field`` naming the offending line.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass

from redline.core.errors import Equivocation, InvalidCheckpoint, InvalidNote
from redline.core.merkle import EMPTY_ROOT, HASH_SIZE
from redline.core.note import Note, Signer, Verifier, open_note, sign_note

__all__ = [
    "MAX_TREE_SIZE",
    "Checkpoint",
    "SignedCheckpoint",
    "check_no_equivocation",
    "empty_checkpoint",
    "open_checkpoint",
    "sign_checkpoint",
]

#: Go's tlog and transparency-dev read the size as a uint64.
MAX_TREE_SIZE = 2**64 - 1

# tlog-checkpoint §Note text 2: ASCII decimal, no leading zeroes unless 0.
_SIZE_RE = re.compile(r"(?:0|[1-9][0-9]*)\Z", re.ASCII)


def _check_line(value: str, field: str) -> None:
    # Every line must be non-empty and, being signed-note text, hold no
    # newline or other control character (signed-note §Format).
    if not value:
        raise InvalidCheckpoint("line is empty", field=field)
    for c in value:
        if c < " ":
            raise InvalidCheckpoint(f"line holds control character U+{ord(c):04X}", field=field)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A log's tree head: origin, size, RFC 6962 root hash, extension lines.

    The constructor validates and raises :class:`InvalidCheckpoint` (with
    ``field`` set) for an empty origin or extension line, a control
    character, a size outside 0..2^64-1 or a root hash that is not 32 bytes.
    """

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # tlog-checkpoint §Note text 1: the origin MUST be non-empty; its
        # form (schema-less URL) is only a SHOULD, so spaces are allowed.
        _check_line(self.origin, "origin")
        if isinstance(self.size, bool) or not 0 <= self.size <= MAX_TREE_SIZE:
            raise InvalidCheckpoint(f"tree size {self.size!r} is out of range", field="size")
        if len(self.root_hash) != HASH_SIZE:
            raise InvalidCheckpoint(
                f"root hash is {len(self.root_hash)} bytes, not {HASH_SIZE}", field="root hash"
            )
        object.__setattr__(self, "extensions", tuple(self.extensions))
        for i, line in enumerate(self.extensions):
            # tlog-checkpoint §Note text 4: extension lines MUST be non-empty.
            _check_line(line, f"extension line {i + 4}")

    def format(self) -> str:
        """Return the checkpoint note text, ending in a newline. Raises nothing."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode()]
        lines.extend(self.extensions)
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse checkpoint note text (without signatures), strictly.

        Raises :class:`InvalidCheckpoint` naming the line: text not ending
        in a newline, fewer than three lines, an empty line, a size with a
        sign, spaces or leading zeroes, or a root hash that is not canonical
        base64 of exactly 32 bytes.
        """
        if not text.endswith("\n"):
            raise InvalidCheckpoint("checkpoint text must end in a newline", field="text")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise InvalidCheckpoint(
                f"checkpoint has {len(lines)} lines, at least 3 are needed", field="text"
            )
        origin, size_text, root_text, *extensions = lines
        _check_line(origin, "origin")
        if not _SIZE_RE.match(size_text):
            raise InvalidCheckpoint(
                f"tree size {size_text[:30]!r} is not a decimal without leading zeroes",
                field="size",
            )
        try:
            root = base64.b64decode(root_text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidCheckpoint("root hash is not valid base64", field="root hash") from exc
        if base64.b64encode(root).decode() != root_text:
            raise InvalidCheckpoint("root hash is not canonical base64", field="root hash")
        return cls(origin, int(size_text), root, tuple(extensions))


def empty_checkpoint(origin: str) -> Checkpoint:
    """Return the checkpoint of the empty tree: size 0, RFC 6962 empty root.

    Raises :class:`InvalidCheckpoint` for an invalid origin.
    """
    return Checkpoint(origin, 0, EMPTY_ROOT)


def sign_checkpoint(checkpoint: Checkpoint, signer: Signer) -> bytes:
    """Return ``checkpoint`` as a signed note signed by the log's ``signer``.

    Raises :class:`InvalidCheckpoint` if the signer's name is not the origin
    (tlog-checkpoint §Signatures: it SHOULD match; we require it of our own).
    """
    if signer.name != checkpoint.origin:
        raise InvalidCheckpoint(
            f"log key name {signer.name!r} is not the origin {checkpoint.origin!r}",
            field="origin",
        )
    return sign_note(checkpoint.format(), [signer])


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedCheckpoint:
    """A checkpoint whose log signature verified, with the note it came in."""

    checkpoint: Checkpoint
    note: Note

    def cosigned_by(self, cosigner: Verifier) -> int | None:
        """Return the timestamp of ``cosigner``'s verified cosignature, or None.

        Raises nothing.
        """
        sig = self.note.signature_from(cosigner)
        return None if sig is None else sig.timestamp


def open_checkpoint(
    msg: bytes,
    *,
    log: Verifier,
    cosigners: Sequence[Verifier] = (),
    origin: str | None = None,
    min_cosignatures: int = 0,
) -> SignedCheckpoint:
    """Verify a signed checkpoint note and parse its text.

    The note must carry a valid signature by the ``log`` key (a note signed
    only by cosigners is not a checkpoint of that log); every signature by
    a key in ``cosigners`` must verify, and at least ``min_cosignatures`` of
    them must be present. The origin must equal ``origin`` (default: the
    log key's name).

    Raises :class:`InvalidNote` if the note is malformed, a known signature
    fails, the log signature is missing or too few cosignatures verified;
    :class:`InvalidCheckpoint` if the text is not a valid checkpoint or has
    the wrong origin; :class:`~redline.core.errors.InvalidKey` for an
    ambiguous key set.
    """
    note = open_note(msg, [log, *cosigners])
    if note.signature_from(log) is None:
        raise InvalidNote(f"checkpoint is not signed by the log key {log.name}")
    count = sum(1 for c in cosigners if note.signature_from(c) is not None)
    if count < min_cosignatures:
        raise InvalidNote(f"checkpoint has {count} cosignatures, {min_cosignatures} are required")
    checkpoint = Checkpoint.parse(note.text)
    want = log.name if origin is None else origin
    if checkpoint.origin != want:
        raise InvalidCheckpoint(
            f"origin {checkpoint.origin!r} is not the expected {want!r}", field="origin"
        )
    return SignedCheckpoint(checkpoint=checkpoint, note=note)


def check_no_equivocation(a: Checkpoint, b: Checkpoint) -> None:
    """Raise :class:`Equivocation` if ``a`` and ``b`` differ at one size.

    Two checkpoints of one origin and size with different root hashes are
    proof that the log showed two views (tlog-checkpoint §Signatures).
    Returns nothing when they agree, or when origins or sizes differ (a
    consistency proof decides those). Raises nothing else.
    """
    if a.origin == b.origin and a.size == b.size and a.root_hash != b.root_hash:
        raise Equivocation(f"log {a.origin} signed two different trees of size {a.size}")
