"""RFC 6962 / RFC 9162 Merkle maths against the transparency-dev vectors."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redline.core.errors import InvalidProof
from redline.core.merkle import (
    EMPTY_ROOT,
    MemoryHashStore,
    leaf_hash,
    node_hash,
    prove_record,
    prove_tree,
    root_from_leaf_hashes,
    split_stored_hash_index,
    stored_hash_count,
    stored_hash_index,
    stored_hashes,
    tree_hash,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).resolve().parent.parent / "vectors"

INCLUSION = sorted((VECTORS / "inclusion").rglob("*.json"))
CONSISTENCY = sorted((VECTORS / "consistency").rglob("*.json"))

# transparency-dev testonly/constants.go: leaf inputs and roots by size.
LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def _b64(s: str) -> bytes:
    return base64.b64decode(s)


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _id(path: Path) -> str:
    return str(path.relative_to(VECTORS))


def test_vector_counts() -> None:
    assert len(INCLUSION) + len(CONSISTENCY) == 196


@pytest.mark.parametrize("path", INCLUSION, ids=_id)
def test_inclusion_vector(path: Path) -> None:
    v = _load(path)
    kwargs: dict[str, Any] = dict(
        leaf_hash=_b64(v["leafHash"]),
        index=v["leafIdx"],
        size=v["treeSize"],
        proof=[_b64(p) for p in v["proof"] or []],
        root=_b64(v["root"]),
    )
    if v["wantErr"]:
        with pytest.raises(InvalidProof):
            verify_inclusion(**kwargs)
    else:
        verify_inclusion(**kwargs)


@pytest.mark.parametrize("path", CONSISTENCY, ids=_id)
def test_consistency_vector(path: Path) -> None:
    v = _load(path)
    kwargs: dict[str, Any] = dict(
        size1=v["size1"],
        size2=v["size2"],
        proof=[_b64(p) for p in v["proof"] or []],
        root1=_b64(v["root1"]),
        root2=_b64(v["root2"]),
    )
    if v["wantErr"]:
        with pytest.raises(InvalidProof):
            verify_consistency(**kwargs)
    else:
        verify_consistency(**kwargs)


def test_happy_vectors_match_our_proofs() -> None:
    # Our prover must produce exactly the published proofs for the reference tree.
    store = MemoryHashStore()
    for leaf in LEAVES:
        store.append(leaf)
    for path in INCLUSION:
        v = _load(path)
        if v["wantErr"] or v["treeSize"] > len(LEAVES) or path.parent.name == "single-entry":
            continue
        got = prove_record(v["treeSize"], v["leafIdx"], store)
        assert got == [_b64(p) for p in v["proof"] or []], path
    for path in CONSISTENCY:
        v = _load(path)
        if v["wantErr"] or v["size1"] == v["size2"]:
            continue
        got = prove_tree(v["size2"], v["size1"], store)
        assert got == [_b64(p) for p in v["proof"] or []], path


def test_reference_roots() -> None:
    store = MemoryHashStore()
    assert store.tree_hash() == bytes.fromhex(ROOTS[0])
    for size, leaf in enumerate(LEAVES, start=1):
        store.append(leaf)
        assert store.tree_hash().hex() == ROOTS[size]
    for size in range(len(ROOTS)):
        hashes = [leaf_hash(x) for x in LEAVES[:size]]
        assert root_from_leaf_hashes(hashes).hex() == ROOTS[size]
        assert tree_hash(size, store).hex() == ROOTS[size]


def test_record_hash_hello_world() -> None:
    # Go's sumdb/tlog RecordHash("hello world").
    want = "TszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0="
    assert base64.b64encode(leaf_hash(b"hello world")).decode() == want


def test_basic_hashes() -> None:
    assert EMPTY_ROOT == hashlib.sha256(b"").digest()
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    assert node_hash(a, b) == hashlib.sha256(b"\x01" + a + b).digest()


def test_stored_hash_index_layout() -> None:
    # tlog_test.go: the first few indexes, and the inverse for the first 10000.
    assert [stored_hash_index(0, n) for n in range(6)] == [0, 1, 3, 4, 7, 8]
    assert stored_hash_index(1, 0) == 2
    assert stored_hash_index(2, 0) == 6
    for index in range(10_000):
        level, n = split_stored_hash_index(index)
        assert stored_hash_index(level, n) == index
    counts = [stored_hash_count(n) for n in range(6)]
    assert counts == [0, 1, 3, 4, 7, 8]


def test_stored_hashes_match_store_layout() -> None:
    store = MemoryHashStore()
    for n in range(50):
        record = f"record {n}\n".encode()
        new = stored_hashes(n, record, store)
        start = stored_hash_index(0, n)
        assert start == stored_hash_count(n)
        store.append(record)
        assert store.read_hashes(range(start, start + len(new))) == new
        assert stored_hash_count(n + 1) == start + len(new)
        for i, h in enumerate(new):
            level, k = split_stored_hash_index(start + i)
            assert level == i
            lo, hi = k << level, (k + 1) << level
            want = root_from_leaf_hashes(
                [leaf_hash(f"record {j}\n".encode()) for j in range(lo, hi)]
            )
            assert h == want


def test_prover_refuses_bad_arguments() -> None:
    store = MemoryHashStore()
    store.append(b"x")
    with pytest.raises(ValueError):
        prove_record(1, 1, store)
    with pytest.raises(ValueError):
        prove_tree(1, 0, store)
    with pytest.raises(ValueError):
        prove_tree(1, 2, store)
    with pytest.raises(IndexError):
        tree_hash(5, store)
    with pytest.raises(ValueError):
        store.append_leaf_hash(b"short")


def test_inclusion_errors_are_named() -> None:
    store = MemoryHashStore()
    for i in range(5):
        store.append(bytes([i]))
    proof = prove_record(5, 2, store)
    root = store.tree_hash()
    lh = leaf_hash(bytes([2]))
    verify_inclusion(leaf_hash=lh, index=2, size=5, proof=proof, root=root)
    with pytest.raises(InvalidProof, match="not below tree size"):
        verify_inclusion(leaf_hash=lh, index=5, size=5, proof=proof, root=root)
    with pytest.raises(InvalidProof, match="too short"):
        verify_inclusion(leaf_hash=lh, index=2, size=5, proof=proof[:-1], root=root)
    with pytest.raises(InvalidProof, match="longer"):
        verify_inclusion(leaf_hash=lh, index=2, size=5, proof=[*proof, lh], root=root)
    with pytest.raises(InvalidProof, match="root"):
        verify_inclusion(leaf_hash=lh, index=2, size=5, proof=proof, root=EMPTY_ROOT)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=300))
def test_store_root_equals_root_from_leaf_hashes(size: int) -> None:
    store = MemoryHashStore()
    hashes = []
    for i in range(size):
        record = i.to_bytes(4, "big")
        store.append(record)
        hashes.append(leaf_hash(record))
    assert store.tree_hash() == root_from_leaf_hashes(hashes)
    assert store.read_hashes(range(stored_hash_count(size))) is not None


_STORE = MemoryHashStore()
for _i in range(600):
    _STORE.append(_i.to_bytes(4, "big"))


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_random_proofs_verify(data: st.DataObject) -> None:
    t = data.draw(st.integers(min_value=1, max_value=600), label="t")
    n = data.draw(st.integers(min_value=0, max_value=t - 1), label="n")
    root = tree_hash(t, _STORE)
    proof = prove_record(t, n, _STORE)
    verify_inclusion(
        leaf_hash=leaf_hash(n.to_bytes(4, "big")), index=n, size=t, proof=proof, root=root
    )
    if t > 1:
        wrong = (n + 1) % t
        with pytest.raises(InvalidProof):
            verify_inclusion(
                leaf_hash=leaf_hash(n.to_bytes(4, "big")),
                index=wrong,
                size=t,
                proof=proof,
                root=root,
            )
    m = data.draw(st.integers(min_value=1, max_value=t), label="m")
    cproof = prove_tree(t, m, _STORE)
    old_root = tree_hash(m, _STORE)
    verify_consistency(size1=m, size2=t, proof=cproof, root1=old_root, root2=root)
    if m < t:
        with pytest.raises(InvalidProof):
            verify_consistency(size1=m, size2=t, proof=cproof, root1=root, root2=root)
