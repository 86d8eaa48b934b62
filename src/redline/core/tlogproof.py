"""C2SP tlog-proof: an offline-verifiable proof that a record is in a log.

The ``.tlog-proof`` text (c2sp.org/tlog-proof §Format)::

    c2sp.org/tlog-proof@v1
    extra <base64>            (optional)
    index <decimal>
    <base64 hash>             (zero or more: the RFC 6962 inclusion proof)

    <the signed checkpoint note, verbatim>

Verification follows §Verifying a tlog proof: compute the leaf hash, check
the log's signature and origin, verify the known witnesses' cosignatures
(with a k-of-n policy), then the inclusion proof against the root.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass

from redline.core.checkpoint import Checkpoint, SignedCheckpoint, open_checkpoint
from redline.core.errors import InvalidCheckpoint, InvalidInput, InvalidProof
from redline.core.merkle import HASH_SIZE, HashReader, prove_record, verify_inclusion
from redline.core.merkle import leaf_hash as record_leaf_hash
from redline.core.note import Verifier

__all__ = [
    "HEADER",
    "TlogProof",
    "build_tlog_proof",
    "verify_tlog_proof",
]

#: tlog-proof §Format: the first line.
HEADER = "c2sp.org/tlog-proof@v1"

_MAX_INDEX = 2**64 - 1
# An inclusion proof in a tree of fewer than 2^64 leaves has at most 64 hashes.
_MAX_HASHES = 64
_INDEX_RE = re.compile(r"index (0|[1-9][0-9]*)\Z", re.ASCII)


def _b64decode(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidProof(f"{what} is not valid base64") from exc
    if base64.b64encode(raw).decode() != text:
        raise InvalidProof(f"{what} is not canonical base64")
    return raw


@dataclass(frozen=True, slots=True, kw_only=True)
class TlogProof:
    """A parsed tlog-proof: index, inclusion proof hashes, signed checkpoint.

    ``checkpoint`` is the signed checkpoint note, byte for byte; ``extra``
    is the optional unauthenticated extra data. The constructor raises
    :class:`InvalidProof` for an index outside 0..2^64-1, a hash that is not
    32 bytes, more than 64 hashes, an empty checkpoint or an empty extra.
    """

    index: int
    hashes: tuple[bytes, ...]
    checkpoint: bytes
    extra: bytes | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.index <= _MAX_INDEX:
            raise InvalidProof(f"index {self.index} is out of range")
        object.__setattr__(self, "hashes", tuple(self.hashes))
        if len(self.hashes) > _MAX_HASHES:
            raise InvalidProof(f"inclusion proof has {len(self.hashes)} hashes, at most 64")
        for i, h in enumerate(self.hashes):
            if len(h) != HASH_SIZE:
                raise InvalidProof(f"inclusion proof hash {i} is {len(h)} bytes, not 32")
        if not self.checkpoint:
            raise InvalidProof("the checkpoint is missing")
        if self.extra is not None and not self.extra:
            raise InvalidProof("extra data is empty; leave it out instead")

    def format(self) -> bytes:
        """Return the ``.tlog-proof`` file contents. Raises nothing."""
        lines = [HEADER]
        if self.extra is not None:
            lines.append("extra " + base64.b64encode(self.extra).decode())
        lines.append(f"index {self.index}")
        lines.extend(base64.b64encode(h).decode() for h in self.hashes)
        return ("\n".join(lines) + "\n\n").encode() + self.checkpoint

    @classmethod
    def parse(cls, data: bytes) -> TlogProof:
        """Parse a ``.tlog-proof`` file strictly (tlog-proof §Format).

        Only the framing is checked here; the checkpoint note is verified by
        :func:`verify_tlog_proof`. Raises :class:`InvalidProof` naming the
        line: a wrong header, a malformed extra or index line, a proof line
        that is not canonical base64 of 32 bytes, or a missing blank line or
        checkpoint.
        """
        end = data.find(b"\n\n")
        if end < 0:
            raise InvalidProof("no blank line before the checkpoint")
        try:
            head = data[:end].decode("ascii")
        except UnicodeDecodeError as exc:
            raise InvalidProof("proof lines are not ASCII") from exc
        checkpoint = data[end + 2 :]
        lines = head.split("\n")
        if lines[0] != HEADER:
            raise InvalidProof(f"first line is not {HEADER}", field="line 1")
        pos = 1
        extra = None
        # The extra line is present only if there is extra data.
        if pos < len(lines) and lines[pos].startswith("extra "):
            extra = _b64decode(lines[pos][len("extra ") :], "extra data")
            if not extra:
                raise InvalidProof("extra line is empty", field="line 2")
            pos += 1
        if pos >= len(lines):
            raise InvalidProof("index line is missing", field=f"line {pos + 1}")
        match = _INDEX_RE.match(lines[pos])
        if not match:
            raise InvalidProof(
                "expected 'index' and a decimal without leading zeroes", field=f"line {pos + 1}"
            )
        index = int(match.group(1))
        if index > _MAX_INDEX:
            raise InvalidProof("index is out of range", field=f"line {pos + 1}")
        hashes: list[bytes] = []
        for i, line in enumerate(lines[pos + 1 :], start=pos + 2):
            if len(hashes) == _MAX_HASHES:
                raise InvalidProof("inclusion proof has more than 64 hashes", field=f"line {i}")
            raw = _b64decode(line, f"line {i}")
            if len(raw) != HASH_SIZE:
                raise InvalidProof(f"proof hash is {len(raw)} bytes, not 32", field=f"line {i}")
            hashes.append(raw)
        if not checkpoint:
            raise InvalidProof("the checkpoint is missing")
        return cls(index=index, hashes=tuple(hashes), checkpoint=checkpoint, extra=extra)


def _checkpoint_text(note: bytes) -> str:
    # The note text ends at the last blank line (signed-note §Format).
    try:
        decoded = note.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidCheckpoint("checkpoint note is not UTF-8") from exc
    split = decoded.rfind("\n\n")
    if split < 0:
        raise InvalidCheckpoint("checkpoint note has no signatures")
    return decoded[: split + 1]


def build_tlog_proof(
    *, index: int, checkpoint: bytes, reader: HashReader, extra: bytes | None = None
) -> TlogProof:
    """Build the tlog-proof of record ``index`` under the signed ``checkpoint``.

    The tree size is read from the checkpoint text, and the inclusion proof
    from ``reader`` (the log's stored hashes). The checkpoint is not
    verified here: it is ours. Raises :class:`InvalidCheckpoint` if the note
    text is not a checkpoint, :class:`InvalidInput` if ``index`` is not in
    the tree, and whatever ``reader`` raises.
    """
    size = Checkpoint.parse(_checkpoint_text(checkpoint)).size
    if not 0 <= index < size:
        raise InvalidInput(f"record {index} is not in the tree of size {size}", field="index")
    hashes = prove_record(size, index, reader)
    return TlogProof(index=index, hashes=tuple(hashes), checkpoint=checkpoint, extra=extra)


def verify_tlog_proof(
    proof: TlogProof | bytes,
    *,
    log: Verifier,
    record: bytes | None = None,
    leaf_hash: bytes | None = None,
    cosigners: Sequence[Verifier] = (),
    min_cosignatures: int = 0,
    origin: str | None = None,
    opened: MutableMapping[bytes, SignedCheckpoint] | None = None,
) -> SignedCheckpoint:
    """Verify a tlog proof of ``record`` (or of its ``leaf_hash``).

    tlog-proof §Verifying: (1) the leaf hash is RFC 6962's hash of
    ``record`` unless given; (2) the checkpoint origin is ``origin``
    (default: the log key's name) and the log key signed it; (3) every
    cosignature by a key in ``cosigners`` verifies and at least
    ``min_cosignatures`` are present; (4) the inclusion proof binds the
    leaf hash to the root. Returns the verified checkpoint (the extra data,
    if any, is not authenticated and is not used).

    ``opened`` caches checkpoints already verified, by their note bytes: a
    caller checking many proofs against one checkpoint passes one dict for
    all of them (with the same keys each time) and checks its signatures once.

    Raises :class:`InvalidInput` unless exactly one of ``record`` and
    ``leaf_hash`` is given; :class:`InvalidProof` for a malformed proof
    file or an inclusion proof that does not verify;
    :class:`~redline.core.errors.InvalidNote` for a bad or missing log
    signature, a bad cosignature or too few;
    :class:`~redline.core.errors.InvalidCheckpoint` for a malformed
    checkpoint or a wrong origin.
    """
    if record is not None and leaf_hash is None:
        lh = record_leaf_hash(record)
    elif leaf_hash is not None and record is None:
        lh = leaf_hash
    else:
        raise InvalidInput("give exactly one of record and leaf_hash", field="record")
    if isinstance(proof, bytes):
        proof = TlogProof.parse(proof)
    signed = opened.get(proof.checkpoint) if opened is not None else None
    if signed is None:
        signed = open_checkpoint(
            proof.checkpoint,
            log=log,
            cosigners=cosigners,
            origin=origin,
            min_cosignatures=min_cosignatures,
        )
        if opened is not None:
            opened[proof.checkpoint] = signed
    cp = signed.checkpoint
    verify_inclusion(
        leaf_hash=lh, index=proof.index, size=cp.size, proof=proof.hashes, root=cp.root_hash
    )
    return signed
