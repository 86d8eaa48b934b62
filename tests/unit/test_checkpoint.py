"""C2SP tlog-checkpoint: strict parsing, formatting and signed opening."""

from __future__ import annotations

import base64

import pytest

from redline.core.checkpoint import (
    Checkpoint,
    check_no_equivocation,
    empty_checkpoint,
    open_checkpoint,
    sign_checkpoint,
)
from redline.core.errors import Equivocation, InvalidCheckpoint, InvalidNote
from redline.core.merkle import EMPTY_ROOT
from redline.core.note import CosignatureSigner, Signer

ROOT = base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
# tlog-checkpoint's example text.
SPEC_TEXT = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
ROOT_B64 = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="


def test_spec_example_round_trips() -> None:
    cp = Checkpoint.parse(SPEC_TEXT)
    assert cp == Checkpoint("example.com/behind-the-sofa", 20852163, ROOT)
    assert cp.format() == SPEC_TEXT


def test_extensions_round_trip() -> None:
    text = SPEC_TEXT + "ext one\nsecond\n"
    cp = Checkpoint.parse(text)
    assert cp.extensions == ("ext one", "second")
    assert cp.format() == text


def test_empty_checkpoint() -> None:
    cp = empty_checkpoint("example.org/log")
    assert (cp.size, cp.root_hash) == (0, EMPTY_ROOT)
    assert Checkpoint.parse(cp.format()) == cp
    assert cp.format().split("\n")[1] == "0"


def test_origin_may_hold_spaces() -> None:
    # tlog-checkpoint §Note text 1: the URL form is only a SHOULD.
    assert Checkpoint.parse(f"my log\n1\n{ROOT_B64}\n").origin == "my log"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (SPEC_TEXT[:-1], "text"),
        ("example.com/log\n1\n", "text"),
        (f"\n1\n{ROOT_B64}\n", "origin"),
        (f"o\x01\n1\n{ROOT_B64}\n", "origin"),
        (f"o\n01\n{ROOT_B64}\n", "size"),
        (f"o\n00\n{ROOT_B64}\n", "size"),
        (f"o\n+1\n{ROOT_B64}\n", "size"),
        (f"o\n-1\n{ROOT_B64}\n", "size"),
        (f"o\n 1\n{ROOT_B64}\n", "size"),
        (f"o\n1 \n{ROOT_B64}\n", "size"),
        (f"o\n1_000\n{ROOT_B64}\n", "size"),
        (f"o\n\u0661\n{ROOT_B64}\n", "size"),  # Arabic-Indic digit one
        (f"o\n\n{ROOT_B64}\n", "size"),
        (f"o\n{2**64}\n{ROOT_B64}\n", "size"),
        ("o\n1\n\n", "root hash"),
        ("o\n1\nAAAA\n", "root hash"),
        (f"o\n1\n{ROOT_B64[:-1]}\n", "root hash"),
        (f"o\n1\n{ROOT_B64} \n", "root hash"),
        (f"o\n1\n{ROOT_B64[:-2]}3=\n", "root hash"),  # non-canonical padding bits
        (f"o\n1\n{base64.b64encode(bytes(33)).decode()}\n", "root hash"),
        (f"o\n1\n{ROOT_B64}\n\n", "extension line 4"),
        (f"o\n1\n{ROOT_B64}\next\n\nmore\n", "extension line 5"),
        (f"o\n1\n{ROOT_B64}\ne\tx\n", "extension line 4"),
    ],
)
def test_strictness(text: str, field: str) -> None:
    with pytest.raises(InvalidCheckpoint) as info:
        Checkpoint.parse(text)
    assert info.value.field == field


def test_constructor_validates() -> None:
    with pytest.raises(InvalidCheckpoint):
        Checkpoint("", 1, ROOT)
    with pytest.raises(InvalidCheckpoint):
        Checkpoint("o\nx", 1, ROOT)
    with pytest.raises(InvalidCheckpoint):
        Checkpoint("o", -1, ROOT)
    with pytest.raises(InvalidCheckpoint):
        Checkpoint("o", 2**64, ROOT)
    with pytest.raises(InvalidCheckpoint):
        Checkpoint("o", 1, ROOT[:31])
    with pytest.raises(InvalidCheckpoint):
        Checkpoint("o", 1, ROOT, ("",))


LOG = Signer("example.org/log", bytes([1]) * 32)
WITNESS = CosignatureSigner("witness.example/w1", bytes([2]) * 32)


def test_sign_and_open() -> None:
    cp = Checkpoint("example.org/log", 5, ROOT)
    note = sign_checkpoint(cp, LOG)
    note += WITNESS.cosign(cp.format(), timestamp=1700000000)
    signed = open_checkpoint(note, log=LOG.verifier(), cosigners=[WITNESS.verifier()])
    assert signed.checkpoint == cp
    assert signed.cosigned_by(WITNESS.verifier()) == 1700000000
    open_checkpoint(note, log=LOG.verifier(), cosigners=[WITNESS.verifier()], min_cosignatures=1)
    with pytest.raises(InvalidNote, match="cosignatures"):
        open_checkpoint(note, log=LOG.verifier(), min_cosignatures=1)


def test_open_requires_the_log_signature_and_origin() -> None:
    cp = Checkpoint("example.org/log", 5, ROOT)
    only_cosigned = (cp.format() + "\n").encode() + WITNESS.cosign(cp.format(), timestamp=1)
    with pytest.raises(InvalidNote, match="not signed by the log key"):
        open_checkpoint(only_cosigned, log=LOG.verifier(), cosigners=[WITNESS.verifier()])
    with pytest.raises(InvalidCheckpoint, match="origin"):
        open_checkpoint(sign_checkpoint(cp, LOG), log=LOG.verifier(), origin="other")
    with pytest.raises(InvalidCheckpoint, match="origin"):
        sign_checkpoint(Checkpoint("other", 1, ROOT), LOG)


def test_equivocation() -> None:
    a = Checkpoint("o", 3, ROOT)
    check_no_equivocation(a, a)
    check_no_equivocation(a, Checkpoint("o", 4, EMPTY_ROOT))
    check_no_equivocation(a, Checkpoint("p", 3, EMPTY_ROOT))
    with pytest.raises(Equivocation):
        check_no_equivocation(a, Checkpoint("o", 3, EMPTY_ROOT))
