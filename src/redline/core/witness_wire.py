"""C2SP tlog-witness on the wire: the add-checkpoint request and its answers.

A log asks a witness to cosign with a body of ``old <size>``, the consistency
proof from that size (one base64 hash a line), a blank line, then the signed
checkpoint note. The witness answers with cosignature lines, or 409 with the
size it last cosigned. Everything here is bytes in, values or errors out: no
I/O, no clock. Notes are split only by :func:`redline.core.note.split_note`.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

from redline.core import merkle
from redline.core.checkpoint import Checkpoint
from redline.core.errors import (
    Conflict,
    InvalidCheckpoint,
    InvalidInput,
    InvalidNote,
    VerificationError,
)
from redline.core.note import Verifier, split_note

__all__ = [
    "MAX_PROOF_LINES",
    "BadWitnessRequest",
    "WitnessSizeMismatch",
    "find_cosignature",
    "format_add_checkpoint",
    "log_signed_note",
    "parse_add_checkpoint",
    "unverified_checkpoint",
]

MAX_PROOF_LINES = 63  # tlog-witness: a client MUST NOT send more


class BadWitnessRequest(InvalidInput):
    """tlog-witness 400: the add-checkpoint request is malformed."""

    code = "bad-witness-request"
    status = 400


class WitnessSizeMismatch(Conflict):
    """tlog-witness 409: the old size is not the size this witness last cosigned."""

    code = "witness-size-mismatch"

    def __init__(self, message: str, *, size: int = 0, field: str | None = "old") -> None:
        super().__init__(message, field=field)
        self.size = size


def format_add_checkpoint(old: int, proof: Sequence[bytes], note: bytes) -> bytes:
    """The tlog-witness add-checkpoint request body. Raises nothing."""
    lines = [f"old {old}"] + [base64.b64encode(h).decode("ascii") for h in proof]
    return ("\n".join(lines) + "\n\n").encode("ascii") + note


def parse_add_checkpoint(body: bytes) -> tuple[int, list[bytes], bytes]:
    """Split an add-checkpoint body into old size, proof hashes and the note.

    Raises :class:`BadWitnessRequest` (400) naming what is malformed.
    """
    head, sep, note = body.partition(b"\n\n")
    if not sep:
        raise BadWitnessRequest("add-checkpoint body has no empty line before the checkpoint")
    try:
        lines = head.decode("ascii").split("\n")
    except UnicodeDecodeError as exc:
        raise BadWitnessRequest("add-checkpoint header is not ASCII", field="old") from exc
    first = lines[0]
    if not first.startswith("old "):
        raise BadWitnessRequest("first line must be 'old <size>'", field="old")
    digits = first[4:]
    if not digits.isdigit() or (digits != "0" and digits.startswith("0")):
        raise BadWitnessRequest("old size must be a decimal without leading zeros", field="old")
    proof_lines = lines[1:]
    if len(proof_lines) > MAX_PROOF_LINES:
        raise BadWitnessRequest(f"more than {MAX_PROOF_LINES} proof lines", field="proof")
    proof = []
    for i, line in enumerate(proof_lines):
        try:
            digest = base64.b64decode(line, validate=True)
        except ValueError as exc:
            raise BadWitnessRequest(f"proof line {i + 1} is not base64", field="proof") from exc
        if len(digest) != merkle.HASH_SIZE:
            raise BadWitnessRequest(f"proof line {i + 1} is not a SHA-256 hash", field="proof")
        proof.append(digest)
    return int(digits), proof, note


def unverified_checkpoint(note: bytes) -> Checkpoint:
    """The checkpoint in a signed ``note``, read before any signature is checked
    (tlog-witness answers an unknown origin with 404 before it checks one).

    Raises :class:`BadWitnessRequest` (400) if the note is malformed or its
    text is not a checkpoint.
    """
    try:
        text, _ = split_note(note)
        return Checkpoint.parse(text)
    except (InvalidNote, InvalidCheckpoint) as exc:
        raise BadWitnessRequest(f"not a checkpoint: {exc}", field="checkpoint") from exc


def log_signed_note(note: bytes, log_key: Verifier) -> str:
    """The note as the log signed it: its text and only the log key's signature lines.

    Lines by other keys were ignored when the note was checked; kept, a peer
    could plant one that names a key the verifier of a bundle knows, and
    spoil that evidence. Call it on a note that opened with ``log_key``.
    Raises :class:`InvalidNote` if the note is malformed.
    """
    text, lines = split_note(note)
    prefix = f"\u2014 {log_key.name} "
    kept = []
    for line in lines:
        if not line.startswith(prefix):
            continue
        try:
            raw = base64.b64decode(line[len(prefix) :], validate=True)
        except ValueError:
            continue
        if len(raw) > 4 and int.from_bytes(raw[:4], "big") == log_key.key_hash:
            try:
                log_key.check(text.encode(), raw[4:])
            except InvalidNote:
                continue
            kept.append(line + "\n")
    return text + "\n" + "".join(kept)


def find_cosignature(response: bytes, text: bytes, witness: Verifier, peer: str) -> tuple[str, int]:
    """The first line of a witness's ``response`` that is a valid cosignature by
    ``witness`` over checkpoint ``text``, with its timestamp.

    Lines by other keys are ignored (tlog-witness). Raises
    :class:`VerificationError` if the response is not UTF-8, if the line by
    ``witness`` does not verify, or if there is none.
    """
    try:
        lines = response.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise VerificationError(f"cosignature response from {peer!r} is not UTF-8") from exc
    prefix = f"\u2014 {witness.name} "
    for line in lines:
        if not line.startswith(prefix):
            continue  # tlog-witness: ignore cosignatures from unknown keys
        try:
            raw = base64.b64decode(line[len(prefix) :], validate=True)
        except ValueError:
            continue
        if len(raw) < 4 or int.from_bytes(raw[:4], "big") != witness.key_hash:
            continue
        try:
            timestamp = witness.check(text, raw[4:])
        except InvalidNote as exc:
            raise VerificationError(f"cosignature from {peer!r} does not verify: {exc}") from exc
        assert timestamp is not None
        return line + "\n", timestamp
    raise VerificationError(f"no cosignature by {peer!r}'s pinned witness key in the response")
