"""RFC 6962 / RFC 9162 Merkle tree maths, sans-IO.

The storage layout is that of Go's ``golang.org/x/mod/sumdb/tlog``: every
complete subtree hash is stored once, in append order, so appending a record
and building any proof need only O(log n) stored-hash reads. The reader of
stored hashes is passed in (:class:`HashReader`); this module does no I/O.

Proofs have the RFC 9162 §2.1.3 (inclusion) and §2.1.4 (consistency) shape,
which is also what ``tlog.RecordProof`` / ``tlog.TreeProof`` and the
transparency-dev tools use. Verification follows RFC 9162 §2.1.3.2 and
§2.1.4.2 step by step and raises :class:`InvalidProof` on any failure.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Protocol

from redline.core.errors import InvalidProof

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "HashReader",
    "MemoryHashStore",
    "leaf_hash",
    "node_hash",
    "prove_record",
    "prove_tree",
    "root_from_leaf_hashes",
    "split_stored_hash_index",
    "stored_hash_count",
    "stored_hash_index",
    "stored_hashes",
    "stored_hashes_for_leaf_hash",
    "tree_hash",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32

_sha256 = hashlib.sha256
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

#: RFC 6962 §2.1: the hash of an empty list is the hash of an empty string.
EMPTY_ROOT = _sha256(b"").digest()


def leaf_hash(record: bytes) -> bytes:
    """Return the RFC 6962 §2.1 leaf hash SHA-256(0x00 || record).

    This is Go's ``tlog.RecordHash``. Raises nothing.
    """
    return _sha256(_LEAF_PREFIX + record).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 6962 §2.1 interior hash SHA-256(0x01 || left || right).

    Raises nothing.
    """
    return _sha256(_NODE_PREFIX + left + right).digest()


class HashReader(Protocol):
    """Reads stored hashes by their index in the tlog storage order."""

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        """Return the hashes at ``indexes``, in the same order.

        Implementations raise (any :class:`~redline.core.errors.RedlineError`
        they choose, or ``KeyError``/``IndexError``) when a hash is missing.
        """
        ...


# --- Storage layout (tlog.go: StoredHashIndex and friends) -------------------


def stored_hash_index(level: int, n: int) -> int:
    """Return the storage index of the ``n``-th hash at ``level`` of the tree.

    Level 0 holds leaf hashes; level L's n-th hash covers leaves
    [n·2^L, (n+1)·2^L). Raises ``ValueError`` for negative arguments.
    """
    if level < 0 or n < 0:
        raise ValueError("level and n must be non-negative")
    # Level L's n-th hash is written right after level L+1's (2n+1)-th hash;
    # walk down to the level 0 ordering, then add back the level count.
    for _ in range(level):
        n = 2 * n + 1
    # Level 0's n-th hash is written at n + n/2 + n/4 + ... (until n/2^i is 0).
    i = 0
    while n > 0:
        i += n
        n >>= 1
    return i + level


def split_stored_hash_index(index: int) -> tuple[int, int]:
    """Invert :func:`stored_hash_index`: return ``(level, n)`` for ``index``.

    Raises ``ValueError`` for a negative index.
    """
    if index < 0:
        raise ValueError("index must be non-negative")
    # stored_hash_index(0, n) < 2n, so the record n that wrote this index
    # lies in [index/2, index/2 + log2(index)].
    n = index // 2
    index_n = stored_hash_index(0, n)
    while True:
        # Each new record n adds 1 + trailing_zeros(n+1) hashes.
        x = index_n + 1 + _trailing_zeros(n + 1)
        if x > index:
            break
        n += 1
        index_n = x
    # The hash was stored with record n: it is one of (0, n), (1, n/2), ...
    level = index - index_n
    return level, n >> level


def stored_hash_count(n: int) -> int:
    """Return how many hashes are stored for a tree of ``n`` records.

    Raises ``ValueError`` for negative ``n``.
    """
    if n < 0:
        raise ValueError("n must be non-negative")
    if n == 0:
        return 0
    # The hashes up to the last leaf hash, plus one for each subtree that the
    # last leaf completes (one per trailing 1 bit of n-1).
    return stored_hash_index(0, n - 1) + 1 + _trailing_zeros(n)


def stored_hashes(n: int, record: bytes, reader: HashReader) -> list[bytes]:
    """Return the hashes to store when appending ``record`` as record ``n``.

    The list starts with the leaf hash and continues with the hash of each
    subtree the record completes, as Go's ``tlog.StoredHashes``. They are to
    be stored at indexes ``stored_hash_index(0, n)`` onwards. Raises
    ``ValueError`` for negative ``n`` and whatever ``reader`` raises.
    """
    return stored_hashes_for_leaf_hash(n, leaf_hash(record), reader)


def stored_hashes_for_leaf_hash(n: int, leaf_hash: bytes, reader: HashReader) -> list[bytes]:
    """Like :func:`stored_hashes` but from the leaf hash of record ``n``.

    Raises ``ValueError`` for negative ``n`` or a leaf hash that is not 32
    bytes, and whatever ``reader`` raises (or ``ValueError`` if it returns
    the wrong number of hashes).
    """
    if n < 0:
        raise ValueError("n must be non-negative")
    if len(leaf_hash) != HASH_SIZE:
        raise ValueError("leaf hash must be 32 bytes")
    # Each trailing 1 bit of n completes a subtree and consumes the hash of
    # the adjacent left subtree; n >> i is odd for each i < m.
    m = _trailing_zeros(n + 1)
    indexes = [stored_hash_index(i, (n >> i) - 1) for i in range(m - 1, -1, -1)]
    old = _read(reader, indexes)
    h = leaf_hash
    hashes = [h]
    for i in range(m):
        h = node_hash(old[m - 1 - i], h)
        hashes.append(h)
    return hashes


# --- Tree hashes and proofs (tlog.go: TreeHash, ProveRecord, ProveTree) ------


def tree_hash(n: int, reader: HashReader) -> bytes:
    """Return the RFC 6962 root hash of the first ``n`` records.

    Unlike Go's ``tlog.TreeHash`` (which returns zeros), size 0 gives
    :data:`EMPTY_ROOT`, the RFC 6962 §2.1 empty hash that checkpoints carry.
    Raises ``ValueError`` for negative ``n`` and whatever ``reader`` raises.
    """
    if n < 0:
        raise ValueError("n must be non-negative")
    if n == 0:
        return EMPTY_ROOT
    indexes = _subtree_index(0, n, [])
    hashes = _read(reader, indexes)
    h, rest = _subtree_hash(0, n, hashes, 0)
    if rest != len(hashes):
        raise RuntimeError("bad index math in tree_hash")
    return h


def prove_record(t: int, n: int, reader: HashReader) -> list[bytes]:
    """Return the inclusion proof of record ``n`` in the tree of size ``t``.

    The proof is the RFC 9162 §2.1.3.1 audit path, leaf sibling first.
    Raises ``ValueError`` unless 0 <= n < t, and whatever ``reader`` raises.
    """
    if n < 0 or n >= t:
        raise ValueError(f"cannot prove record {n} in a tree of size {t}")
    indexes = _leaf_proof_index(0, t, n, [])
    if not indexes:
        return []
    hashes = _read(reader, indexes)
    proof: list[bytes] = []
    pos = _leaf_proof(0, t, n, hashes, 0, proof)
    if pos != len(hashes):
        raise RuntimeError("bad index math in prove_record")
    return proof


def prove_tree(t: int, n: int, reader: HashReader) -> list[bytes]:
    """Return the consistency proof from the tree of size ``n`` to size ``t``.

    The proof is the RFC 9162 §2.1.4.1 consistency path; it is empty when
    ``n == t``. Raises ``ValueError`` unless 1 <= n <= t, and whatever
    ``reader`` raises.
    """
    if n < 1 or n > t:
        raise ValueError(f"cannot prove size {n} consistent with size {t}")
    indexes = _tree_proof_index(0, t, n, [])
    if not indexes:
        return []
    hashes = _read(reader, indexes)
    proof: list[bytes] = []
    pos = _tree_proof(0, t, n, hashes, 0, proof)
    if pos != len(hashes):
        raise RuntimeError("bad index math in prove_tree")
    return proof


def _trailing_zeros(x: int) -> int:
    return (x & -x).bit_length() - 1


def _maxpow2(n: int) -> tuple[int, int]:
    """Return (k, log2 k) for the largest power of two k < n (n >= 2)."""
    level = (n - 1).bit_length() - 1
    return 1 << level, level


def _read(reader: HashReader, indexes: list[int]) -> list[bytes]:
    if not indexes:
        return []
    hashes = reader.read_hashes(indexes)
    if len(hashes) != len(indexes):
        raise ValueError(f"read_hashes({len(indexes)} indexes) returned {len(hashes)} hashes")
    return hashes


def _subtree_index(lo: int, hi: int, need: list[int]) -> list[int]:
    # Split [lo, hi) into maximal complete subtrees, left to right; each one's
    # hash is stored directly.
    while lo < hi:
        k, level = _maxpow2(hi - lo + 1)
        need.append(stored_hash_index(level, lo >> level))
        lo += k
    return need


def _subtree_hash(lo: int, hi: int, hashes: list[bytes], pos: int) -> tuple[bytes, int]:
    # Consume the stored hashes _subtree_index asked for and fold them right
    # to left: the fringe on the right is combined first (RFC 6962 §2.1).
    count = 0
    while lo < hi:
        k, _ = _maxpow2(hi - lo + 1)
        count += 1
        lo += k
    end = pos + count
    h = hashes[end - 1]
    for i in range(end - 2, pos - 1, -1):
        h = node_hash(hashes[i], h)
    return h, end


def _leaf_proof_index(lo: int, hi: int, n: int, need: list[int]) -> list[int]:
    if lo + 1 == hi:
        return need
    k, _ = _maxpow2(hi - lo)
    if n < lo + k:
        _leaf_proof_index(lo, lo + k, n, need)
        _subtree_index(lo + k, hi, need)
    else:
        _subtree_index(lo, lo + k, need)
        _leaf_proof_index(lo + k, hi, n, need)
    return need


def _leaf_proof(lo: int, hi: int, n: int, hashes: list[bytes], pos: int, proof: list[bytes]) -> int:
    # Walk down toward leaf n, recording the hash of each path not taken;
    # the deepest sibling ends up first, as RFC 9162 §2.1.3.1 orders it.
    if lo + 1 == hi:
        return pos
    k, _ = _maxpow2(hi - lo)
    if n < lo + k:
        pos = _leaf_proof(lo, lo + k, n, hashes, pos, proof)
        th, pos = _subtree_hash(lo + k, hi, hashes, pos)
    else:
        th, pos = _subtree_hash(lo, lo + k, hashes, pos)
        pos = _leaf_proof(lo + k, hi, n, hashes, pos, proof)
    proof.append(th)
    return pos


def _tree_proof_index(lo: int, hi: int, n: int, need: list[int]) -> list[int]:
    if n == hi:
        if lo == 0:
            return need
        return _subtree_index(lo, hi, need)
    k, _ = _maxpow2(hi - lo)
    if n <= lo + k:
        _tree_proof_index(lo, lo + k, n, need)
        _subtree_index(lo + k, hi, need)
    else:
        _subtree_index(lo, lo + k, need)
        _tree_proof_index(lo + k, hi, n, need)
    return need


def _tree_proof(lo: int, hi: int, n: int, hashes: list[bytes], pos: int, proof: list[bytes]) -> int:
    # RFC 9162 §2.1.4.1 SUBPROOF: the old tree's own hash is omitted when it
    # is a whole subtree starting at 0, since the verifier knows it.
    if n == hi:
        if lo == 0:
            return pos
        th, pos = _subtree_hash(lo, hi, hashes, pos)
        proof.append(th)
        return pos
    k, _ = _maxpow2(hi - lo)
    if n <= lo + k:
        pos = _tree_proof(lo, lo + k, n, hashes, pos, proof)
        th, pos = _subtree_hash(lo + k, hi, hashes, pos)
    else:
        th, pos = _subtree_hash(lo, lo + k, hashes, pos)
        pos = _tree_proof(lo + k, hi, n, hashes, pos, proof)
    proof.append(th)
    return pos


# --- Verification (RFC 9162 §2.1.3.2, §2.1.4.2) ------------------------------


def _check_hashes(proof: Sequence[bytes], what: str) -> None:
    for i, p in enumerate(proof):
        if len(p) != HASH_SIZE:
            raise InvalidProof(f"{what} hash {i} is {len(p)} bytes, not {HASH_SIZE}")


def verify_inclusion(
    *, leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree ``(size, root)``.

    Follows RFC 9162 §2.1.3.2. Returns nothing; raises :class:`InvalidProof`
    naming what is wrong (index out of range, malformed hash, proof of the
    wrong length, or a root that does not match).
    """
    if index < 0 or size < 0:
        raise InvalidProof("index and size must be non-negative")
    # Step 1: the index must be inside the tree.
    if index >= size:
        raise InvalidProof(f"index {index} is not below tree size {size}")
    if len(leaf_hash) != HASH_SIZE:
        raise InvalidProof(f"leaf hash is {len(leaf_hash)} bytes, not {HASH_SIZE}")
    _check_hashes(proof, "inclusion proof")
    # Steps 2-4.
    fn, sn = index, size - 1
    r = leaf_hash
    for p in proof:
        if sn == 0:
            raise InvalidProof("inclusion proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            r = _sha256(_NODE_PREFIX + p + r).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _sha256(_NODE_PREFIX + r + p).digest()
        fn >>= 1
        sn >>= 1
    # Step 5.
    if sn != 0:
        raise InvalidProof(f"inclusion proof of {len(proof)} hashes is too short")
    if not hmac.compare_digest(r, root):
        raise InvalidProof("inclusion proof does not lead to the root hash")


def verify_consistency(
    *, size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree ``(size2, root2)`` extends ``(size1, root1)``.

    Follows RFC 9162 §2.1.4.2. A proof from size 0 proves nothing and is
    refused, as the transparency-dev vectors require: a caller that accepts
    a first checkpoint of any size does so without calling this. Returns
    nothing; raises :class:`InvalidProof` naming what is wrong.
    """
    if size1 < 0 or size2 < 0:
        raise InvalidProof("sizes must be non-negative")
    if size1 > size2:
        raise InvalidProof(f"size1 {size1} is greater than size2 {size2}")
    if size1 == 0:
        raise InvalidProof("a consistency proof from an empty tree proves nothing")
    if size1 == size2:
        if proof:
            raise InvalidProof("sizes are equal but the proof is not empty")
        if not hmac.compare_digest(root1, root2):
            raise InvalidProof("sizes are equal but the roots differ")
        return
    # Step 1.
    if not proof:
        raise InvalidProof("consistency proof is empty")
    _check_hashes(proof, "consistency proof")
    path = list(proof)
    # Step 2: a power-of-two old tree is itself a node of the new tree.
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    # Steps 3-4.
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5.
    fr = sr = path[0]
    # Step 6.
    for c in path[1:]:
        if sn == 0:
            raise InvalidProof("consistency proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            fr = _sha256(_NODE_PREFIX + c + fr).digest()
            sr = _sha256(_NODE_PREFIX + c + sr).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _sha256(_NODE_PREFIX + sr + c).digest()
        fn >>= 1
        sn >>= 1
    # Step 7.
    if sn != 0:
        raise InvalidProof(f"consistency proof of {len(proof)} hashes is too short")
    if not hmac.compare_digest(fr, root1):
        raise InvalidProof("consistency proof does not lead to the old root hash")
    if not hmac.compare_digest(sr, root2):
        raise InvalidProof("consistency proof does not lead to the new root hash")


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """Return the RFC 6962 §2.1 root of a tree whose leaf hashes are given.

    Iterative: a stack holds the roots of the complete subtrees seen so far
    (one per 1 bit of the count), merged as each leaf completes them, then
    folded right to left at the end. Raises nothing (an empty sequence gives
    :data:`EMPTY_ROOT`).
    """
    sha = _sha256
    prefix = _NODE_PREFIX
    stack: list[bytes] = []
    push = stack.append
    pop = stack.pop
    for i, h in enumerate(hashes):
        # Leaf i completes one subtree per trailing 1 bit of i.
        j = i
        while j & 1:
            h = sha(prefix + pop() + h).digest()
            j >>= 1
        push(h)
    if not stack:
        return EMPTY_ROOT
    h = pop()
    while stack:
        h = sha(prefix + pop() + h).digest()
    return h


class MemoryHashStore:
    """A list-backed :class:`HashReader` that appends records in tlog order.

    For tests and for offline verification of a whole log held in memory.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self) -> None:
        self._hashes: list[bytes] = []
        self._size = 0

    @property
    def size(self) -> int:
        """The number of records appended. Raises nothing."""
        return self._size

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        """Return the stored hashes at ``indexes``; raise ``IndexError`` if missing."""
        out = []
        for i in indexes:
            if i < 0 or i >= len(self._hashes):
                raise IndexError(f"no stored hash at index {i}")
            out.append(self._hashes[i])
        return out

    def append(self, record: bytes) -> int:
        """Append ``record``; return its index. Raises nothing."""
        return self.append_leaf_hash(leaf_hash(record))

    def append_leaf_hash(self, leaf_hash: bytes) -> int:
        """Append a record by its leaf hash; return its index.

        Raises ``ValueError`` if ``leaf_hash`` is not 32 bytes.
        """
        n = self._size
        self._hashes.extend(stored_hashes_for_leaf_hash(n, leaf_hash, self))
        self._size = n + 1
        return n

    def tree_hash(self, n: int | None = None) -> bytes:
        """Return the root of the first ``n`` records (default: all).

        Raises ``ValueError`` if ``n`` is negative or beyond the size.
        """
        n = self._size if n is None else n
        if n > self._size:
            raise ValueError(f"size {n} is beyond the {self._size} records stored")
        return tree_hash(n, self)
