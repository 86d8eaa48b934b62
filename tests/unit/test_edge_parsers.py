"""Every parser at the edge, fed arbitrary and mutated input.

What a peer (or anyone who reaches a port) sends is parsed by one of these:
a statement from the wire, an NDJSON batch, a signed note, a checkpoint, a
tlog-proof, a tlog-witness add-checkpoint body, a statement body of each
registered kind. Whatever the bytes, each either returns or raises the
project's own error (a :class:`RedlineError`, naming the field where its
contract says it does): never another exception, which the link would answer
500. Inputs are bounded, so no example can hang. Where a parser has a
serializer, what it writes it reads back the same.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_hotline_bodies import ENVELOPE_GOOD
from test_hotline_kinds import GOOD

from redline.core.canonical import canonical_json
from redline.core.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from redline.core.errors import (
    InvalidCheckpoint,
    InvalidInput,
    InvalidKey,
    InvalidNote,
    InvalidProof,
    InvalidStatement,
    RedlineError,
    VerificationError,
)
from redline.core.note import Signer, Verifier, open_note, sign_note, split_note
from redline.core.registry import KINDS, validate_body
from redline.core.statement import Statement
from redline.core.tlogproof import TlogProof
from redline.core.witness_wire import (
    BadWitnessRequest,
    format_add_checkpoint,
    parse_add_checkpoint,
    unverified_checkpoint,
)
from redline.link.wire import decode_batch, encode_batch
from support.linktests import LINK_TEST_KINDS_GOOD
from support.media import MEDIA_KINDS_GOOD
from support.messaging import MESSAGING_KINDS_GOOD
from support.notices import NOTICE_KINDS_GOOD

# The parsers are fast; a few hundred examples each keeps the file well under a minute.
EDGE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
NOW = datetime(2026, 11, 22, 8, 40, 0, 123456, tzinfo=UTC)
LOG = Signer("us.example/log", bytes(range(32)))
OTHER = Signer("prc.example/log", bytes(range(1, 33)))
CHECKPOINT = Checkpoint("us.example/log", 3, bytes(range(32)))
NOTE = sign_checkpoint(CHECKPOINT, LOG)

# -- strategies --------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=40),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def mutated(draw: st.DrawFn, original: bytes) -> bytes:
    """``original`` with one to three edits: a byte flipped, a span cut, bytes
    inserted, or a span repeated."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.integers(0, len(data)))
        edit = draw(st.sampled_from(["flip", "cut", "insert", "repeat"]))
        if edit == "flip" and where < len(data):
            data[where] ^= 1 << draw(st.integers(0, 7))
        elif edit == "cut":
            del data[where : where + draw(st.integers(1, 16))]
        elif edit == "insert":
            data[where:where] = draw(
                st.one_of(
                    st.binary(min_size=1, max_size=8),
                    st.sampled_from([b"\n", b"\n\n", b"\r\n", b"\x00", b" ", b"\xff", b"\\u0000"]),
                )
            )
        else:
            span = bytes(data[where : where + draw(st.integers(1, 16))])
            data[where:where] = span
    return bytes(data)


def statement(n: int = 1, kind: str = "message") -> Statement:
    body = ENVELOPE_GOOD.get(kind) or GOOD[kind]
    return Statement.create(key=KEY, sender="us", to="prc", kind=kind, seq=n, time=NOW, body=body)


WIRE = statement().canonical


def refuses_as(errors: type[RedlineError] | tuple[type[RedlineError], ...]) -> Callable[..., Any]:
    """Run ``parse(*args)``; the only exception allowed is one of ``errors``."""

    def run(parse: Callable[..., Any], *args: Any) -> RedlineError | None:
        try:
            parse(*args)
        except errors as exc:
            return exc
        return None

    return run


# -- statements and batches --------------------------------------------------------


@EDGE
@given(st.one_of(st.binary(max_size=600), mutated(WIRE)))
def test_a_statement_from_any_bytes_or_invalid_statement(data: bytes) -> None:
    refuses_as(InvalidStatement)(Statement.from_wire, data)


@EDGE
@given(json_values)
def test_a_statement_from_any_json_or_invalid_statement(obj: Any) -> None:
    refuses_as(InvalidStatement)(Statement.from_json, obj)


@EDGE
@given(st.dictionaries(st.sampled_from(sorted(statement().to_json())), json_values, max_size=9))
def test_a_statement_object_with_any_field_values_or_invalid_statement(
    fields: dict[str, Any],
) -> None:
    obj = {**statement().to_json(), **fields}
    refuses_as(InvalidStatement)(Statement.from_json, obj)


def test_a_statement_round_trips_through_the_wire() -> None:
    for kind in ("message", "receipt", "ack", "heartbeat"):
        made = statement(kind=kind)
        assert Statement.from_wire(made.canonical) == made


BATCH = encode_batch([statement(n).canonical for n in range(1, 4)])


@EDGE
@given(st.one_of(st.binary(max_size=600), mutated(BATCH)))
def test_a_batch_from_any_bytes_or_invalid_statement_naming_the_line(data: bytes) -> None:
    error = refuses_as(InvalidStatement)(decode_batch, data)
    if error is not None:
        assert error.field is not None
        assert error.field == "body" or error.field.startswith("line ")


def test_a_batch_round_trips() -> None:
    assert [s.canonical for s in decode_batch(BATCH)] == [
        statement(n).canonical for n in range(1, 4)
    ]


# -- canonical JSON ----------------------------------------------------------------


@EDGE
@given(json_values)
def test_canonical_json_is_stable_or_refused_as_ours(value: Any) -> None:
    # canonical_json raises the reference's CanonicalizationError; a statement
    # built from the value must turn that into InvalidStatement naming the body.
    error = refuses_as(InvalidStatement)(
        lambda: Statement.create(
            key=KEY, sender="us", to="prc", kind="heartbeat", seq=1, time=NOW, body={"v": value}
        )
    )
    if error is None:
        once = canonical_json({"v": value})
        assert canonical_json(json.loads(once)) == once
    else:
        assert error.field is not None and error.field.startswith("body")


# -- bodies of every kind ----------------------------------------------------------

GOOD_BODIES: dict[str, dict[str, Any]] = {
    **GOOD,
    **ENVELOPE_GOOD,
    **NOTICE_KINDS_GOOD,
    **MESSAGING_KINDS_GOOD,
    **LINK_TEST_KINDS_GOOD,
    **MEDIA_KINDS_GOOD,
}


def test_every_registered_kind_has_a_good_body_here() -> None:
    assert set(KINDS) <= set(GOOD_BODIES)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside ``value`` (dict keys and list indexes)."""
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, inner in value.items():
            out.extend(_paths(inner, (*prefix, key)))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            out.extend(_paths(inner, (*prefix, i)))
    return out


@st.composite
def mutated_body(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    """A good body of ``kind`` with one value replaced, one key dropped or one added."""
    body = copy.deepcopy(GOOD_BODIES[kind])
    edit = draw(st.sampled_from(["replace", "drop", "add"]))
    paths = _paths(body)
    if edit == "add" or not paths:
        body[draw(st.text(max_size=12))] = draw(json_values)
        return body
    path = draw(st.sampled_from(paths))
    parent: Any = body
    for step in path[:-1]:
        parent = parent[step]
    if edit == "replace":
        parent[path[-1]] = draw(json_values)
    else:
        del parent[path[-1]]
    return body


def _check_body(kind: str, body: Any) -> None:
    error = refuses_as(InvalidStatement)(validate_body, kind, body)
    if error is not None:
        assert error.field is not None
        assert error.field == "body" or error.field.startswith("body")


@pytest.mark.parametrize("kind", sorted(KINDS))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_a_body_of_each_kind_is_typed_or_refused_naming_the_field(
    kind: str, data: st.DataObject
) -> None:
    body = data.draw(
        st.one_of(mutated_body(kind), st.dictionaries(st.text(max_size=12), json_values))
    )
    _check_body(kind, body)


# -- signed notes and checkpoints --------------------------------------------------


@EDGE
@given(st.one_of(st.binary(max_size=400), mutated(NOTE)))
def test_a_note_from_any_bytes_opens_or_is_refused_as_ours(data: bytes) -> None:
    refuses_as((InvalidNote, VerificationError))(open_note, data, [LOG.verifier()])
    refuses_as(InvalidNote)(split_note, data)


@EDGE
@given(st.one_of(st.binary(max_size=400), mutated(NOTE)))
def test_a_checkpoint_note_opens_or_is_refused_as_ours(data: bytes) -> None:
    refuses_as((InvalidNote, InvalidCheckpoint, VerificationError))(
        lambda: open_checkpoint(data, log=LOG.verifier(), origin="us.example/log")
    )


@EDGE
@given(
    st.one_of(
        st.text(max_size=200),
        mutated(CHECKPOINT.format().encode()).map(lambda b: b.decode("utf-8", "replace")),
    )
)
def test_checkpoint_text_parses_or_invalid_checkpoint(text: str) -> None:
    error = refuses_as(InvalidCheckpoint)(Checkpoint.parse, text)
    if error is not None:
        assert error.field is not None


line_text = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), min_size=1, max_size=30
)


@EDGE
@given(
    line_text,
    st.integers(0, 2**64 - 1),
    st.binary(min_size=32, max_size=32),
    st.lists(line_text, max_size=3),
)
def test_a_checkpoint_round_trips(origin: str, size: int, root: bytes, ext: list[str]) -> None:
    try:
        checkpoint = Checkpoint(origin, size, root, tuple(ext))
    except InvalidCheckpoint:
        assume(False)
        raise
    assert Checkpoint.parse(checkpoint.format()) == checkpoint
    # Signed and opened again, under a log key named as the origin.
    ours = dataclasses.replace(checkpoint, origin=OTHER.name)
    opened = open_checkpoint(sign_checkpoint(ours, OTHER), log=OTHER.verifier())
    assert opened.checkpoint == ours


@EDGE
@given(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=80))
def test_a_note_round_trips_or_its_text_is_refused(text: str) -> None:
    text += "\n"
    try:
        signed = sign_note(text, [LOG])
    except (InvalidNote, InvalidInput):
        return
    assert open_note(signed, [LOG.verifier()]).text == text


@EDGE
@given(st.text(max_size=120))
def test_a_verifier_key_parses_or_invalid_key(vkey: str) -> None:
    refuses_as(InvalidKey)(Verifier.parse, vkey)


# -- tlog-proof --------------------------------------------------------------------

PROOF = TlogProof(index=2, hashes=(bytes(32), bytes(range(32))), checkpoint=NOTE, extra=b"x")


@EDGE
@given(st.one_of(st.binary(max_size=400), mutated(PROOF.format())))
def test_a_tlog_proof_parses_or_invalid_proof(data: bytes) -> None:
    refuses_as(InvalidProof)(TlogProof.parse, data)


@EDGE
@given(
    st.integers(0, 2**64 - 1),
    st.lists(st.binary(min_size=32, max_size=32), max_size=64),
    st.binary(min_size=1, max_size=200),
    st.one_of(st.none(), st.binary(min_size=1, max_size=40)),
)
def test_a_tlog_proof_round_trips(
    index: int, hashes: list[bytes], checkpoint: bytes, extra: bytes | None
) -> None:
    proof = TlogProof(index=index, hashes=tuple(hashes), checkpoint=checkpoint, extra=extra)
    assert TlogProof.parse(proof.format()) == proof


# -- tlog-witness add-checkpoint ---------------------------------------------------

ADD = format_add_checkpoint(2, [bytes(32), bytes(range(32))], NOTE)


@EDGE
@given(st.one_of(st.binary(max_size=400), mutated(ADD)))
def test_an_add_checkpoint_body_parses_or_is_a_bad_request_naming_the_field(data: bytes) -> None:
    error = refuses_as(BadWitnessRequest)(parse_add_checkpoint, data)
    if error is not None and data.find(b"\n\n") >= 0:
        assert error.field in ("old", "proof")
    refuses_as(BadWitnessRequest)(unverified_checkpoint, data)


@EDGE
@given(
    st.integers(0, 2**64 - 1),
    st.lists(st.binary(min_size=32, max_size=32), max_size=63),
    st.binary(max_size=200),
)
def test_an_add_checkpoint_body_round_trips(old: int, proof: list[bytes], note: bytes) -> None:
    assert parse_add_checkpoint(format_add_checkpoint(old, proof, note)) == (old, proof, note)


def test_the_mutations_do_reach_the_error_paths() -> None:
    """The strategies above are not all valid input: this fails if they stop
    finding refusals (and so could no longer find a crash behind one)."""
    assert refuses_as(InvalidStatement)(Statement.from_wire, WIRE[:-1]) is not None
    assert refuses_as(InvalidProof)(TlogProof.parse, PROOF.format()[:5]) is not None
    assert refuses_as(BadWitnessRequest)(parse_add_checkpoint, b"old 01\n\n" + NOTE) is not None
    assert base64.b64encode(bytes(32)).decode() in ADD.decode()
